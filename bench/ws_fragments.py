# The security review's attack on the WebSocket feed: 4 clients with a read token, each sending
# 45 MiB of unfinished (never final) 8 KiB fragments to /api/v1/stream; prints the gateway's VmRSS
# before, right after, and 5 s after. Python's standard library only. Run by bench/ws-fragments.sh:
#   python3 bench/ws_fragments.py <port> <read token> <gateway pid>
import base64, os, socket, struct, sys, threading, time

port, token, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
CLIENTS, TOTAL, CHUNK = 4, 45 * 1024 * 1024, 8 * 1024

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

def client(results, index):
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /api/v1/stream?access_token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += s.recv(4096)
    assert b" 101 " in response.split(b"\r\n")[0], response
    # An all-zero mask keeps the payload as is (and the client cheap).
    payload = b"y" * CHUNK
    sent = 0
    try:
        while sent < TOTAL:
            opcode = 0x1 if sent == 0 else 0x0
            s.sendall(bytes([opcode, 0x80 | 126]) + struct.pack("!H", CHUNK) + b"\0\0\0\0" + payload)
            sent += CHUNK
        results[index] = f"sent all {sent >> 20} MiB"
    except OSError as error:
        results[index] = f"closed by the gateway after {sent >> 10} KiB ({error.__class__.__name__})"
    time.sleep(1)
    s.close()

print(f"RSS before: {rss()} MiB")
results = [None] * CLIENTS
threads = [threading.Thread(target=client, args=(results, i)) for i in range(CLIENTS)]
start = time.time()
for t in threads: t.start()
for t in threads: t.join()
print(f"clients done in {time.time() - start:.1f} s: {results}")
print(f"RSS right after: {rss()} MiB")
time.sleep(5)
print(f"RSS 5 s later: {rss()} MiB")
