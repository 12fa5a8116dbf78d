//! Splitting a message that is too long for Webex into several, in order, and capping how many
//! one event may take.

/// "The maximum message length is 7439 bytes" (the Messages API; bytes of UTF-8, not characters).
pub const MAX_MESSAGE_BYTES: usize = 7439;

/// Cuts `markdown` into parts of at most `max_bytes` bytes. Cuts fall on line breaks when a line
/// fits (the break is dropped: each part is its own message), otherwise on a character boundary
/// that does not leave an escaping backslash alone at the end of a part. A message that fits is
/// returned whole.
pub fn split(markdown: &str, max_bytes: usize) -> Vec<String> {
    assert!(
        max_bytes >= 8,
        "a message limit below 8 bytes cannot hold a character and its escape"
    );
    if markdown.len() <= max_bytes {
        return vec![markdown.to_owned()];
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    for line in markdown.split('\n') {
        let needed = if current.is_empty() {
            line.len()
        } else {
            current.len() + 1 + line.len()
        };
        if needed <= max_bytes {
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(line);
            continue;
        }
        if !current.is_empty() {
            parts.push(std::mem::take(&mut current));
        }
        let mut rest = line;
        while rest.len() > max_bytes {
            let cut = cut_point(rest, max_bytes);
            parts.push(rest[..cut].to_owned());
            rest = &rest[cut..];
        }
        current.push_str(rest);
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// [`split`], but at most `max_parts` parts: when more would be needed, the last part kept is cut
/// (at a line break in its second half when there is one) and ends with `tail`, which says so and
/// links to the whole event. A sender's 1 MiB field must not become a hundred messages in a room.
pub fn split_capped(markdown: &str, max_bytes: usize, max_parts: usize, tail: &str) -> Vec<String> {
    assert!(max_parts >= 1, "an event takes at least one message");
    assert!(
        tail.len() + 8 <= max_bytes,
        "the tail must leave room for the message"
    );
    let mut parts = split(markdown, max_bytes);
    if parts.len() <= max_parts {
        return parts;
    }
    parts.truncate(max_parts);
    let last = parts.last_mut().expect("at least one part");
    let room = max_bytes - tail.len();
    if last.len() > room {
        let mut cut = cut_point(last, room);
        if let Some(line_break) = last[..cut].rfind('\n')
            && line_break >= cut / 2
        {
            cut = line_break;
        }
        last.truncate(cut);
    }
    last.push_str(tail);
    parts
}

/// The largest cut at most `max_bytes` into `text` that is a character boundary and does not end
/// on an odd run of backslashes (which would escape nothing at the end of one part and leave the
/// escaped character bare at the start of the next).
fn cut_point(text: &str, max_bytes: usize) -> usize {
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let backslashes = text.as_bytes()[..cut]
        .iter()
        .rev()
        .take_while(|byte| **byte == b'\\')
        .count();
    if backslashes % 2 == 1 { cut - 1 } else { cut }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_that_fits_is_one_part() {
        assert_eq!(split("short", MAX_MESSAGE_BYTES), ["short"]);
        assert_eq!(split("", MAX_MESSAGE_BYTES), [""]);
    }

    #[test]
    fn long_messages_are_cut_on_lines_then_characters_and_keep_everything() {
        let line = |index: usize| {
            format!(
                "- **état {index}:** ünïcode \\* value {}",
                "é".repeat(index % 40)
            )
        };
        let lines: Vec<String> = (0..600).map(line).collect();
        let text = format!("{}\n{}\n{}", lines.join("\n"), "ü\\".repeat(5000), "tail");
        for max in [64, 100, 1000, MAX_MESSAGE_BYTES] {
            let parts = split(&text, max);
            assert!(parts.len() > 1, "{max}");
            for part in &parts {
                assert!(part.len() <= max, "{max}: {} bytes", part.len());
                let trailing = part.bytes().rev().take_while(|byte| *byte == b'\\').count();
                assert_eq!(trailing % 2, 0, "{max}: a part ends with a lone backslash");
            }
            let rejoined: String = parts.concat();
            let without_breaks: String = text.split('\n').collect();
            // Parts are separate messages: only the line breaks they were cut at are missing.
            assert_eq!(rejoined.replace('\n', ""), without_breaks, "{max}");
        }
    }

    #[test]
    fn a_capped_split_keeps_the_first_parts_and_ends_with_the_tail() {
        let text = format!("head\n{}", "ab\\".repeat(100_000));
        let tail = "\n\n… cut · [Full event](https://x/1)";
        let parts = split_capped(&text, 1000, 2, tail);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|part| part.len() <= 1000));
        assert!(parts[0].starts_with("head"));
        assert!(parts[1].ends_with(tail), "{}", parts[1]);
        let body = parts[1].strip_suffix(tail).unwrap();
        let trailing = body.bytes().rev().take_while(|byte| *byte == b'\\').count();
        assert_eq!(trailing % 2, 0, "no lone backslash before the tail");
        assert_eq!(split_capped("short", 1000, 2, tail), ["short"]);
    }
}
