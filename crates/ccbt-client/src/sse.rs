//! Server-Sent Events as the daemon sends them on `GET /api/v1/events`: `event:` and `data:`
//! lines, a blank line ending each event, `:` comments for keep-alive. [`Parser`] is the pure
//! line machine; [`EventReader`] feeds it from a byte stream with a bounded line length.

use std::io::BufRead;

/// The longest line kept (the daemon's events are a few hundred bytes); a longer line is cut,
/// so a broken or hostile stream cannot grow memory.
pub const MAX_LINE: usize = 64 * 1024;

/// One event: its name (`message` when it has none) and its data lines joined by `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

/// The event being read, line by line.
#[derive(Debug, Default)]
pub struct Parser {
    name: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Takes one line (without its line ending); a blank line finishes an event with data.
    pub fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            let name = self.name.take().unwrap_or_else(|| "message".to_owned());
            return self.data.take().map(|data| Event { name, data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.name = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    if data.len() < MAX_LINE {
                        data.push('\n');
                        data.push_str(value);
                    }
                }
                None => self.data = Some(value.to_owned()),
            },
            // `id` and `retry` are not used by the daemon; unknown fields are ignored (the spec).
            _ => {}
        }
        None
    }
}

/// Events from a byte stream.
pub struct EventReader<R> {
    input: std::io::BufReader<R>,
    parser: Parser,
    buffer: Vec<u8>,
}

impl<R: std::io::Read> EventReader<R> {
    pub fn new(input: std::io::BufReader<R>) -> EventReader<R> {
        EventReader { input, parser: Parser::default(), buffer: Vec::new() }
    }

    /// The next event; None at the end of the stream.
    pub fn next_event(&mut self) -> std::io::Result<Option<Event>> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            let text = String::from_utf8_lossy(&self.buffer);
            let line = text.strip_suffix('\n').unwrap_or(&text);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(event) = self.parser.line(line) {
                return Ok(Some(event));
            }
        }
    }

    /// One line into `buffer` (at most [`MAX_LINE`] bytes kept, the rest skipped); false at EOF.
    fn read_line(&mut self) -> std::io::Result<bool> {
        self.buffer.clear();
        loop {
            let available = self.input.fill_buf()?;
            if available.is_empty() {
                return Ok(!self.buffer.is_empty());
            }
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (&available[..=at], true),
                None => (available, false),
            };
            let room = MAX_LINE.saturating_sub(self.buffer.len());
            self.buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let used = chunk.len();
            self.input.consume(used);
            if done {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &[u8]) -> Vec<Event> {
        let mut reader = EventReader::new(std::io::BufReader::with_capacity(7, text));
        let mut out = Vec::new();
        while let Some(event) = reader.next_event().unwrap() {
            out.push(event);
        }
        out
    }

    #[test]
    fn parses_named_events_comments_and_multiline_data() {
        let text = b": keep-alive\n\nevent: torrent_added\ndata: {\"a\":1}\n\nevent:x\r\ndata:1\r\ndata: 2\r\n\r\ndata: plain\n\n";
        assert_eq!(
            events(text),
            vec![
                Event { name: "torrent_added".into(), data: "{\"a\":1}".into() },
                Event { name: "x".into(), data: "1\n2".into() },
                Event { name: "message".into(), data: "plain".into() },
            ]
        );
    }

    #[test]
    fn an_unfinished_event_is_not_delivered_and_long_lines_are_cut() {
        assert_eq!(events(b"event: a\ndata: 1\n"), Vec::new());
        let mut text = b"data: ".to_vec();
        text.extend(std::iter::repeat(b'x').take(MAX_LINE * 3));
        text.extend_from_slice(b"\n\n");
        let got = events(&text);
        assert_eq!(got.len(), 1);
        assert!(got[0].data.len() < MAX_LINE);
    }
}
