//! Escaping untrusted text for a Webex Markdown message.
//!
//! Host names, interface descriptions and alarm values come from devices and platforms, and any of
//! them may hold text that Markdown would act on: `[text](url)` makes a link that hides where it
//! goes, `**` and `#` change emphasis and headings, `<@all>` mentions everyone, a newline starts a
//! new block. Every ASCII punctuation character that CommonMark (and GFM, as Webex renders it)
//! gives a meaning to is preceded by a backslash, which CommonMark defines as "this character is
//! literal"; control characters, line breaks included, become spaces so a value stays on its line.

/// The characters escaped with a backslash: CommonMark's syntax characters (emphasis `*` `_`,
/// code `` ` ``, links and images `[` `]` `(` `)` `!`, headings `#`, lists `+` `-` and `1.`, quotes
/// and HTML `>` `<`, entities `&`, tables `|`, strikethrough `~`, setext headings `=`, the escape
/// itself `\`), plus `:` so that an escaped `https://` is not taken for the start of a link
/// destination, and quotes and braces, which some renderers treat as syntax.
const SPECIAL: &[char] = &[
    '\\', '`', '*', '_', '{', '}', '[', ']', '(', ')', '#', '+', '-', '.', '!', '|', '<', '>', '~',
    '=', ':', '&', '"', '\'',
];

/// Appends `text` to `out`, escaped so that it renders as exactly that text.
pub fn escape_into(out: &mut String, text: &str) {
    out.reserve(text.len());
    for character in text.chars() {
        if character.is_control() {
            out.push(' ');
        } else {
            if SPECIAL.contains(&character) {
                out.push('\\');
            }
            out.push(character);
        }
    }
}

/// `text`, escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    escape_into(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_syntax_in_values_is_made_literal() {
        assert_eq!(
            escape("edge1](https://evil.example/login)"),
            r"edge1\]\(https\://evil\.example/login\)"
        );
        assert_eq!(escape("**urgent**"), r"\*\*urgent\*\*");
        assert_eq!(escape("<@all> hi"), r"\<@all\> hi");
        assert_eq!(
            escape("line\n# heading\r\n> quote"),
            r"line \# heading  \> quote"
        );
        assert_eq!(escape(r"a\b"), r"a\\b");
    }

    #[test]
    fn plain_text_and_unicode_pass_unchanged() {
        assert_eq!(escape("BR2 CSR1000v Gi4 état"), "BR2 CSR1000v Gi4 état");
        assert_eq!(escape("10.1.1.6"), r"10\.1\.1\.6");
    }
}
