//! Escaping untrusted text for a Webex Markdown message, and the plain text of a message.
//!
//! Host names, interface descriptions and alarm values come from devices and platforms, and any of
//! them may hold text that Markdown would act on: `[text](url)` makes a link that hides where it
//! goes, `**` and `#` change emphasis and headings, `<@all>` mentions everyone, a newline starts a
//! new block. [`escape`] puts a backslash (CommonMark 2.4, "Backslash escapes": any ASCII
//! punctuation character may be backslash-escaped and is then literal) before a character only
//! where it would act, so that `10.100.0.6`, `https://app-007.example.net` and `if_name` stay as
//! they are: clients that do not honour CommonMark escapes (and people reading the raw text) see
//! them unchanged. Control characters, line breaks included, become spaces so a value stays on its
//! line.
//!
//! [`plain`] turns a rendered message back into plain text, for the Messages API's `text` field,
//! which clients and notifications that show no Markdown display.
//!
//! A value may be printed mid-line (the built-in templates put it after `- **Key:** `) or at the
//! start of a line (a user template may): what only acts at the start of a line (headings, lists,
//! quotes) is escaped when it starts the value, which is harmless mid-line.
//!
//! Section numbers are CommonMark 0.31.2's; tables (4.10) and strikethrough (6.5) are GFM 0.29's
//! extensions, which Webex renders too.

/// Appends `text` to `out`, escaped so that it renders as exactly that text (control characters
/// as spaces).
pub fn escape_into(out: &mut String, text: &str) {
    let chars: Vec<char> = text
        .chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .collect();
    out.reserve(chars.len() + 4);
    let start = line_start(&chars);
    let delimiter = ordered_list_delimiter(&chars);
    for (index, &character) in chars.iter().enumerate() {
        let next = chars.get(index + 1).copied();
        let escaped = match character {
            // Backslash escapes act only before ASCII punctuation (CommonMark 2.4); the end of the
            // value counts as "before punctuation" because the template's own `*` or `[` may
            // follow, and a backslash at the end of a line is a hard line break (6.7).
            '\\' => next.is_none_or(|next| next.is_ascii_punctuation()),
            // Emphasis with `*` acts inside words too (6.2, rules 1, 3, 5 and 7); code spans (6.1),
            // links and images (6.3, 6.4), raw HTML, autolinks (6.5, 6.6) and Webex mentions
            // (`<@all>`), GFM tables (4.10) and strikethrough (6.5 of GFM, which takes one or two
            // tildes, so a single `~` can act as well).
            '*' | '`' | '[' | ']' | '<' | '|' | '~' => true,
            // An image is `![`; the `[` is escaped anyway, the `!` only for clarity.
            '!' => next == Some('['),
            '_' => !intraword_underscore(&chars, index),
            '&' => starts_entity(&chars[index + 1..]),
            _ => (index == start && starts_block(&chars[start..])) || Some(index) == delimiter,
        };
        if escaped {
            out.push('\\');
        }
        out.push(character);
    }
}

/// `text`, escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    escape_into(&mut out, text);
    out
}

/// Where a block marker would start if the value began a line: after up to three spaces
/// (CommonMark 4.2 and 5.2: up to three spaces of indentation are allowed).
fn line_start(chars: &[char]) -> usize {
    chars.iter().take(3).take_while(|c| **c == ' ').count()
}

/// Whether `rest` (the value from its first non-space character) starts with a block marker whose
/// first character needs escaping: an ATX heading `#`..`######` (4.2), a block quote `>` (5.1), a
/// bullet list `-` or `+` followed by a space (5.2), an ordered list's digits followed by `.` or
/// `)` (5.2; the caller escapes the first character, and `1\.` is not a list marker either, but
/// escaping the digit does nothing, so the delimiter is found here and escaped instead), a
/// thematic break or setext underline of `-` or `=` (4.1, 4.3).
fn starts_block(rest: &[char]) -> bool {
    let followed_by_space = |at: usize| rest.get(at).is_none_or(|c| *c == ' ');
    let only = |marker: char| rest.iter().all(|c| *c == marker || *c == ' ');
    match rest.first() {
        Some('#') => {
            let hashes = rest.iter().take_while(|c| **c == '#').count();
            hashes <= 6 && followed_by_space(hashes)
        }
        Some('>') => true,
        Some('-') => followed_by_space(1) || only('-'),
        Some('+') => followed_by_space(1),
        Some('=') => only('='),
        _ => false,
    }
}

/// The index of an ordered list marker's delimiter (`1.` or `1)` followed by a space or the end)
/// at the start of the value, to escape it: `1\. ` is a paragraph (CommonMark 2.4).
fn ordered_list_delimiter(chars: &[char]) -> Option<usize> {
    let start = line_start(chars);
    let digits = chars[start..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let delimiter = start + digits;
    let is_marker = (1..=9).contains(&digits)
        && matches!(chars.get(delimiter), Some('.' | ')'))
        && chars.get(delimiter + 1).is_none_or(|c| *c == ' ');
    is_marker.then_some(delimiter)
}

/// Whether the `_` at `index` is inside a word: its run of underscores has a letter or digit on
/// both sides within the value. Such a run can neither open nor close emphasis (CommonMark 6.2,
/// rules 2, 4, 6 and 8: `_` must not be both left- and right-flanking unless next to punctuation), so
/// `if_name` stays as it is. At the edges of the value the neighbour is the template's, unknown,
/// and the underscore is escaped. So is one in a run longer than [`MAX_RUN`], which keeps the
/// work linear in the length of the value.
fn intraword_underscore(chars: &[char], index: usize) -> bool {
    let before = chars[..index]
        .iter()
        .rev()
        .take(MAX_RUN)
        .find(|c| **c != '_');
    let after = chars[index..].iter().take(MAX_RUN).find(|c| **c != '_');
    before.is_some_and(|c| c.is_alphanumeric()) && after.is_some_and(|c| c.is_alphanumeric())
}

/// How far a run of underscores is looked through for the word around it.
const MAX_RUN: usize = 64;

/// Whether `rest` (what follows an `&`) makes it an entity or numeric character reference
/// (CommonMark 2.5): `#` and up to 7 decimal digits, `#x` and up to 6 hex digits, or a name of
/// letters and digits, then `;`.
fn starts_entity(rest: &[char]) -> bool {
    let body: &[char] = match rest {
        ['#', 'x' | 'X', hex @ ..] => {
            let digits = hex.iter().take_while(|c| c.is_ascii_hexdigit()).count();
            return (1..=6).contains(&digits) && hex.get(digits) == Some(&';');
        }
        ['#', decimal @ ..] => {
            let digits = decimal.iter().take_while(|c| c.is_ascii_digit()).count();
            return (1..=7).contains(&digits) && decimal.get(digits) == Some(&';');
        }
        name => name,
    };
    let letters = body
        .iter()
        .take(33)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    (1..=32).contains(&letters) && body.get(letters) == Some(&';')
}

/// The plain text of a Markdown message, as a reader would see it rendered: backslash escapes
/// resolved, emphasis, strikethrough and code markers dropped, `[label](url)` as `label (url)`
/// (just the URL when the label is the URL), `<url>` as the URL, headings as plain lines, list
/// items kept with their markers, the common entities decoded. It is never longer than the
/// Markdown (each rule keeps or shortens the text), so a message part that fits the size limit
/// has a plain text that fits too.
pub fn plain(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for (index, line) in markdown.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        plain_line(&mut out, line);
    }
    out
}

fn plain_line(out: &mut String, line: &str) {
    // Block markers count after up to three spaces (4.1, 4.2); four make an indented code block.
    let indent = line.bytes().take_while(|byte| *byte == b' ').count();
    let trimmed = if indent <= 3 { &line[indent..] } else { line };
    // A thematic break (4.1) reads as a rule.
    let marks: Vec<char> = trimmed.chars().filter(|c| *c != ' ').collect();
    if indent <= 3
        && marks.len() >= 3
        && ['-', '*', '_']
            .iter()
            .any(|mark| marks.iter().all(|c| c == mark))
    {
        out.push_str("---");
        return;
    }
    // An ATX heading (4.2) is its text, without the optional closing `#`s.
    let hashes = trimmed.bytes().take_while(|byte| *byte == b'#').count();
    let line = if indent <= 3
        && (1..=6).contains(&hashes)
        && trimmed[hashes..].chars().next().is_none_or(|c| c == ' ')
    {
        let text = trimmed[hashes..].trim_matches(' ');
        let without_closing = text.trim_end_matches('#');
        if without_closing.is_empty() || without_closing.ends_with(' ') {
            without_closing.trim_end_matches(' ')
        } else {
            text
        }
    } else {
        line
    };
    let chars: Vec<char> = line.chars().collect();
    // A list marker `* ` reads as `- `, so the `*` is not taken for emphasis.
    let mut index = 0;
    let spaces = chars.iter().take_while(|c| **c == ' ').count();
    if chars.get(spaces) == Some(&'*') && chars.get(spaces + 1) == Some(&' ') {
        out.extend(&chars[..spaces]);
        out.push_str("- ");
        index = spaces + 2;
    }
    inline(out, &chars[index..]);
    // A backslash at the end of a line is a hard line break (6.7): the line break itself.
    let backslashes = line.chars().rev().take_while(|c| *c == '\\').count();
    if backslashes % 2 == 1 {
        out.pop();
    }
}

/// The plain text of one line's inline content.
fn inline(out: &mut String, chars: &[char]) {
    let mut index = 0;
    while index < chars.len() {
        let character = chars[index];
        match character {
            '\\' if chars
                .get(index + 1)
                .is_some_and(|next| next.is_ascii_punctuation()) =>
            {
                out.push(chars[index + 1]);
                index += 2;
            }
            '`' => {
                let run = chars[index..].iter().take_while(|c| **c == '`').count();
                match closing_backticks(chars, index + run, run) {
                    Some(end) => {
                        // Code span content is literal (6.1): no escapes, one space stripped
                        // from each side when both are there.
                        let content: String = chars[index + run..end].iter().collect();
                        let content = match content.strip_prefix(' ') {
                            Some(inner) if content.len() > 2 && content.ends_with(' ') => {
                                &inner[..inner.len() - 1]
                            }
                            _ => &content,
                        };
                        out.push_str(content);
                        index = end + run;
                    }
                    None => {
                        out.extend(&chars[index..index + run]);
                        index += run;
                    }
                }
            }
            '*' | '~' => index += 1,
            '_' if !intraword_underscore(chars, index) => index += 1,
            '[' | '!' | '<' => {
                let end = if character == '<' {
                    autolink(out, chars, index)
                } else {
                    link(out, chars, index)
                };
                match end {
                    Some(end) => index = end,
                    None => {
                        out.push(character);
                        index += 1;
                    }
                }
            }
            '&' => {
                let (text, length) = entity(&chars[index..]);
                out.push_str(&text);
                index += length;
            }
            _ => {
                out.push(character);
                index += 1;
            }
        }
    }
}

/// The index of the backtick run of exactly `run` backticks that closes a code span opened before
/// `from`.
fn closing_backticks(chars: &[char], from: usize, run: usize) -> Option<usize> {
    let mut index = from;
    while index < chars.len() {
        if chars[index] == '`' {
            let length = chars[index..].iter().take_while(|c| **c == '`').count();
            if length == run {
                return Some(index);
            }
            index += length;
        } else {
            index += 1;
        }
    }
    None
}

/// `[label](url)` or `![label](url)` at `start`: writes `label (url)` (or the URL alone when the
/// label is the URL) and returns the index after the link; `None` when there is no link there.
fn link(out: &mut String, chars: &[char], start: usize) -> Option<usize> {
    let open = if chars[start] == '!' {
        start + 1
    } else {
        start
    };
    if chars.get(open) != Some(&'[') {
        return None;
    }
    let mut depth = 0;
    let mut close = None;
    let mut index = open;
    while index < chars.len() {
        match chars[index] {
            '\\' => index += 1,
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(index);
                    break;
                }
            }
            _ => {}
        }
        index += 1;
    }
    let close = close?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let mut depth = 0;
    let mut end = None;
    for (offset, character) in chars[close + 1..].iter().enumerate() {
        match character {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    end = Some(close + 1 + offset);
                    break;
                }
            }
            ' ' => return None, // a title or not a link; shown as written
            _ => {}
        }
    }
    let end = end?;
    let mut label = String::new();
    inline(&mut label, &chars[open + 1..close]);
    let url: String = chars[close + 2..end].iter().collect();
    let url = url.trim_start_matches('<').trim_end_matches('>');
    if label == url || label.is_empty() {
        out.push_str(url);
    } else {
        out.push_str(&label);
        out.push_str(" (");
        out.push_str(url);
        out.push(')');
    }
    Some(end + 1)
}

/// `<scheme:...>` at `start` (CommonMark 6.5): writes the URL and returns the index after it.
fn autolink(out: &mut String, chars: &[char], start: usize) -> Option<usize> {
    let close = start + chars[start..].iter().position(|c| *c == '>')?;
    let inner: String = chars[start + 1..close].iter().collect();
    let scheme = inner.split(':').next()?;
    let is_url = inner.contains(':')
        && (2..=32).contains(&scheme.len())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        && !inner.contains(' ');
    is_url.then(|| {
        out.push_str(&inner);
        close + 1
    })
}

/// The text of the entity reference at the start of `chars` and how many characters it takes, or
/// the `&` alone. Only the references a template is likely to use are decoded.
fn entity(chars: &[char]) -> (String, usize) {
    let semicolon = chars.iter().take(34).position(|c| *c == ';');
    let Some(semicolon) = semicolon.filter(|_| starts_entity(&chars[1..])) else {
        return ("&".to_owned(), 1);
    };
    let name: String = chars[1..semicolon].iter().collect();
    let decoded = match name.as_str() {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => name
            .strip_prefix("#x")
            .or_else(|| name.strip_prefix("#X"))
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
            .and_then(char::from_u32)
            .filter(|c| !c.is_control()),
    };
    match decoded {
        // Each decoded character takes at most 4 bytes, and a reference at least 4 (`&lt;`).
        Some(character) => (character.to_string(), semicolon + 1),
        None => ("&".to_owned(), 1),
    }
}

#[cfg(test)]
pub(super) mod tests;
