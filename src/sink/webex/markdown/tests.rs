use super::*;

/// Whether `needle` occurs in `markdown` with its first character not backslash-escaped (an even
/// run of backslashes before it, none included): where it would act.
pub fn acts(markdown: &str, needle: &str) -> bool {
    markdown.match_indices(needle).any(|(at, _)| {
        let backslashes = markdown[..at]
            .bytes()
            .rev()
            .take_while(|byte| *byte == b'\\')
            .count();
        backslashes % 2 == 0
    })
}

#[test]
fn markdown_syntax_in_values_is_made_literal() {
    assert_eq!(
        escape("edge1](https://evil.example/login)"),
        r"edge1\](https://evil.example/login)"
    );
    assert_eq!(escape("[x](https://evil)"), r"\[x\](https://evil)");
    assert_eq!(
        escape("![x](https://evil/p.png)"),
        r"\!\[x\](https://evil/p.png)"
    );
    assert_eq!(escape("**urgent**"), r"\*\*urgent\*\*");
    assert_eq!(
        escape("a*b*c"),
        r"a\*b\*c",
        "`*` emphasis acts inside words"
    );
    assert_eq!(escape("<@all> hi"), r"\<@all> hi");
    assert_eq!(escape("<b>bold</b>"), r"\<b>bold\</b>");
    assert_eq!(
        escape("line\n# heading\r\n> quote"),
        "line # heading  > quote",
        "line breaks become spaces: no new block can start"
    );
    assert_eq!(escape("`code` ```"), r"\`code\` \`\`\`");
    assert_eq!(escape("~~gone~~ ~x~"), r"\~\~gone\~\~ \~x\~");
    assert_eq!(escape("a | b"), r"a \| b");
    assert_eq!(
        escape(r"a\b"),
        r"a\b",
        "a backslash before a letter is literal"
    );
    assert_eq!(escape(r"a\*b"), r"a\\\*b");
    assert_eq!(escape(r"C:\"), r"C:\\", "the template's text may follow");
    let injected = escape("x](https://evil) **u** <@all> `c` &lt;");
    for needle in ["](", "**", "<@all>", "`", "&lt;"] {
        assert!(!acts(&injected, needle), "{needle}: {injected}");
    }
}

#[test]
fn entities_are_escaped_only_where_they_would_decode() {
    assert_eq!(escape("&lt;@all&gt;"), r"\&lt;@all\&gt;");
    assert_eq!(escape("&#60; &#x3C;"), r"\&#60; \&#x3C;");
    assert_eq!(escape("AT&T R&D & co"), "AT&T R&D & co");
    assert_eq!(escape("a&b;"), r"a\&b;");
}

#[test]
fn line_start_markers_are_escaped_at_the_start_of_a_value() {
    for (value, escaped) in [
        ("# h", r"\# h"),
        ("### h", r"\### h"),
        ("#42 ticket", "#42 ticket"),
        ("####### seven", "####### seven"),
        ("> q", r"\> q"),
        ("  > q", r"  \> q"),
        ("- item", r"\- item"),
        ("-", r"\-"),
        ("---", r"\---"),
        ("-5 dBm", "-5 dBm"),
        ("+ item", r"\+ item"),
        ("+5", "+5"),
        ("* item", r"\* item"),
        ("1. first", r"1\. first"),
        ("12) twelve", r"12\) twelve"),
        ("2.", r"2\."),
        ("===", r"\==="),
        ("a = b", "a = b"),
        ("_ _ _", r"\_ \_ \_"),
    ] {
        assert_eq!(escape(value), escaped, "{value:?}");
    }
    // Mid-value they cannot start a block: left alone.
    assert_eq!(escape("up -> down # 2. > 1"), "up -> down # 2. > 1");
}

#[test]
fn network_values_read_as_they_are() {
    for value in [
        "10.100.0.6",
        "1.1.1.6",
        "2001:db8::1/64",
        "https://app-007.example.net:8443/path?x=1",
        "BR2-CSR1000v",
        "core_sw-01.example.net",
        "GigabitEthernet0/0/1",
        "if_name",
        "snake_case_word",
        "ip_address__v4",
        "BR2 CSR1000v Gi4 état",
        "Interface GigabitEthernet0/0 is Down (P1)",
        "cpu-usage: 95% (threshold 90%)!",
        "AA:BB:CC:DD:EE:FF",
        "rx_crc_errors=12; tx_drops=0",
    ] {
        assert_eq!(escape(value), value);
    }
    assert_eq!(
        escape("sys/intf/phys-[eth1/1]"),
        r"sys/intf/phys-\[eth1/1\]",
        "brackets could start a link"
    );
    assert_eq!(
        escape("_private __init__ trailing_"),
        r"\_private \_\_init\_\_ trailing\_",
        "an underscore next to a space or the value's edge could emphasise"
    );
    assert_eq!(escape("tab\there"), "tab here");
}

#[test]
fn escaped_values_keep_their_text_when_read_back() {
    // The plain text of an escaped value is the value (control characters as spaces).
    for value in [
        "edge1](https://evil.example/login) **urgent** <@all>\n# Click",
        "# h",
        "1. first",
        r"C:\dir\*",
        "&amp; &#60;",
        "snake_case_word _x_ ~y~ `z` a|b",
        "sys/intf/phys-[eth1/1]",
        "---",
        "    ---",
        "x  ",
        "&#x0000041;",
        "   # h",
    ] {
        let shown = plain(&escape(value));
        assert_eq!(shown, value.replace('\n', " "), "{value:?}");
    }
}

#[test]
fn plain_text_drops_markup_and_spells_out_links() {
    let markdown = "🔴 CRITICAL · SD-WAN alarm **Interface_State_Change** on **BR2-CSR1000v**
- **Time:** 2019-05-11 22:26:42 PDT
- **system-ip:** 1.1.1.6
- **name:** \\[x\\](y) \\*not bold\\*

[Open in SD-WAN Manager](https://vmanage.example.com/#/app/monitor/alarms/details/8459e3a0)";
    assert_eq!(
        plain(markdown),
        "🔴 CRITICAL · SD-WAN alarm Interface_State_Change on BR2-CSR1000v
- Time: 2019-05-11 22:26:42 PDT
- system-ip: 1.1.1.6
- name: [x](y) *not bold*

Open in SD-WAN Manager (https://vmanage.example.com/#/app/monitor/alarms/details/8459e3a0)"
    );
    assert_eq!(plain("# Heading #\n* one\n___"), "Heading\n- one\n---");
    assert_eq!(
        plain("see <https://x.example/a> and [https://y](https://y)"),
        "see https://x.example/a and https://y"
    );
    assert_eq!(
        plain("`a\\*b` ``x ` y`` ~~old~~ _em_"),
        "a\\*b x ` y old em"
    );
    assert_eq!(
        plain("&lt;tag&gt; &amp;&#x41; &bogus; & x"),
        "<tag> &A &bogus; & x"
    );
    assert_eq!(plain("hard break\\\nnext"), "hard break\nnext");
    assert_eq!(plain("## C# ##\n# C#\n    # code"), "C#\nC#\n    # code");
    assert_eq!(
        plain("&#x0000041; &#x41;"),
        "&#x0000041; A",
        "as CommonMark decodes"
    );
    assert_eq!(plain("[unclosed ( x"), "[unclosed ( x");
}

#[test]
fn plain_text_is_never_longer_than_the_markdown() {
    for markdown in [
        "&#9;&lt;&#128512;",
        "![a](b) [c](d) <e:f> * _ ~",
        "***\n# x\n\\\\\\",
        "``` x ```",
        "ä\\ö",
    ] {
        let text = plain(markdown);
        assert!(text.len() <= markdown.len(), "{markdown:?} -> {text:?}");
    }
}

/// Many values made of the characters that matter (a fixed pseudo-random sequence, so a failure
/// reproduces): the plain text of each escaped value is the value, and no plain text is longer
/// than its Markdown.
#[test]
fn escaping_then_reading_back_gives_the_value_for_many_values() {
    const ALPHABET: &[char] = &[
        '\\', '*', '_', '`', '[', ']', '(', ')', '!', '<', '>', '&', '#', ';', '~', '|', '-', '+',
        '=', '.', ':', '1', 'x', 'é', ' ', '\n', '\t', '@', 'a',
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let length = (state >> 59) as usize;
        let value: String = (0..length)
            .map(|position| {
                let bits = state.rotate_left(5 * position as u32) >> 40;
                ALPHABET[bits as usize % ALPHABET.len()]
            })
            .collect();
        let escaped = escape(&value);
        let as_sent: String = value
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        assert_eq!(plain(&escaped), as_sent, "{value:?} escaped as {escaped:?}");
        for markdown in [&value, &escaped] {
            assert!(plain(markdown).len() <= markdown.len(), "{markdown:?}");
        }
    }
}

#[test]
fn a_long_run_of_underscores_is_escaped_quickly() {
    // Quadratic work would take minutes here; linear takes milliseconds.
    let value = format!("a{}b", "_".repeat(64 * 1024));
    let started = std::time::Instant::now();
    let escaped = escape(&value);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(escaped.len(), value.len() + 64 * 1024);
    assert_eq!(escape("a__b"), "a__b");
}
