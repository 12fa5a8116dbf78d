"""The status quo the ingest benchmark compares against: the classic SD-WAN webhook receiver
(Flask, `app.run(threaded=True)`), doing what the DevNet sample did on each alarm -- check HTTP
Basic credentials, parse the JSON, build the Markdown message for Webex -- minus the Webex call
itself, so that only the receiving side is measured.

Usage: python3 bench/flask_receiver.py --port 5002 [--username bench --password bench-secret]
"""

import argparse
import datetime
import logging

from flask import Flask, jsonify, request

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--username", default="bench")
parser.add_argument("--password", default="bench-secret")
parser.add_argument("--vmanage", default="https://vmanage.example.com")
args = parser.parse_args()

app = Flask(__name__)
# The sample logged every request line; a benchmark should not measure the terminal.
logging.getLogger("werkzeug").setLevel(logging.ERROR)


@app.route("/", methods=["POST"])
def alarms():
    auth = request.authorization
    if not auth or auth.username != args.username or auth.password != args.password:
        return jsonify({"error": "unauthorized"}), 401
    try:
        data = request.get_json()
        message = "Team, Alarm event : **" + data["rule_name_display"] + "** is received from vManage and here are the complete details <br><br>"
        time = datetime.datetime.fromtimestamp(data["entry_time"] / 1000).strftime("%c")
        message += "**Alarm Date & Time:** " + time + "  <br>"
        for entry in data["values_short_display"]:
            for key, value in entry.items():
                message += "**" + str(key) + ":** " + str(value) + "  <br>"
        message += "**Alarm Details URL:** " + args.vmanage + "/#/app/monitor/alarms/details/" + data["uuid"]
    except Exception as error:  # the sample answered 500 on any parse error
        return jsonify({"error": str(error)}), 500
    return jsonify({"ok": True, "length": len(message)}), 200


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=args.port, threaded=True)
