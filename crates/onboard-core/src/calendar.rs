//! iCalendar invites (RFC 5545 objects with RFC 5546's `METHOD:REQUEST`), as email carries
//! them (RFC 6047): one `VEVENT` with a stable `UID` whose `SEQUENCE` grows with each
//! change, times in UTC (`…Z`, so no `VTIMEZONE` is needed), TEXT values escaped, lines
//! ending in CRLF and folded at 75 octets without splitting a UTF-8 character.
//!
//! Written by hand: the generator is small, and the crates that do this read the wall clock
//! for `DTSTAMP`, which the core never does (here it is the deciding event's time).

use crate::time::{Duration, Timestamp};

/// The `PRODID` of every object Onboard writes.
pub const PRODID: &str = "-//Onboard//Kickoff invites 1.0//EN";

/// Someone on the invite: the organizer, or an attendee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    pub email: String,
}

/// An attendee and whether they have already accepted (the organizer's side) or are asked
/// to answer (`PARTSTAT=NEEDS-ACTION;RSVP=TRUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    pub party: Party,
    pub accepted: bool,
}

/// One meeting request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// Stable across changes of the same meeting.
    pub uid: String,
    /// 0 for the first request, one more for each change.
    pub sequence: u32,
    /// When this version of the request was made.
    pub stamp: Timestamp,
    pub start: Timestamp,
    pub end: Timestamp,
    pub summary: String,
    pub description: String,
    pub location: Option<String>,
    pub organizer: Party,
    pub attendees: Vec<Attendee>,
    /// A display reminder this long before the start.
    pub reminder: Option<Duration>,
}

impl Invite {
    /// The `VCALENDAR` object with `METHOD:REQUEST`, CRLF line endings, folded.
    pub fn request(&self) -> String {
        let mut lines: Vec<String> = vec![
            "BEGIN:VCALENDAR".to_owned(),
            format!("PRODID:{PRODID}"),
            "VERSION:2.0".to_owned(),
            "CALSCALE:GREGORIAN".to_owned(),
            "METHOD:REQUEST".to_owned(),
            "BEGIN:VEVENT".to_owned(),
            format!("UID:{}", text(&self.uid)),
            format!("DTSTAMP:{}", utc(self.stamp)),
            format!("DTSTART:{}", utc(self.start)),
            format!("DTEND:{}", utc(self.end)),
            format!("SEQUENCE:{}", self.sequence),
            "STATUS:CONFIRMED".to_owned(),
            format!("SUMMARY:{}", text(&self.summary)),
            format!("DESCRIPTION:{}", text(&self.description)),
        ];
        if let Some(location) = &self.location {
            lines.push(format!("LOCATION:{}", text(location)));
        }
        lines.push(format!(
            "ORGANIZER;CN={}:mailto:{}",
            parameter(&self.organizer.name),
            self.organizer.email
        ));
        for attendee in &self.attendees {
            let answer = if attendee.accepted {
                "PARTSTAT=ACCEPTED"
            } else {
                "PARTSTAT=NEEDS-ACTION;RSVP=TRUE"
            };
            lines.push(format!(
                "ATTENDEE;CN={};ROLE=REQ-PARTICIPANT;{answer}:mailto:{}",
                parameter(&attendee.party.name),
                attendee.party.email
            ));
        }
        if let Some(before) = self.reminder {
            lines.extend([
                "BEGIN:VALARM".to_owned(),
                "ACTION:DISPLAY".to_owned(),
                "DESCRIPTION:Reminder".to_owned(),
                format!(
                    "TRIGGER:-PT{}M",
                    before.millis() / Duration::MINUTE.millis()
                ),
                "END:VALARM".to_owned(),
            ]);
        }
        lines.extend(["END:VEVENT".to_owned(), "END:VCALENDAR".to_owned()]);
        let mut out = String::new();
        for line in &lines {
            out.push_str(&fold(line));
            out.push_str("\r\n");
        }
        out
    }
}

/// A UTC date-time in the basic form, `20261125T150000Z`.
pub fn utc(t: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.millis())
        .map(|ts| ts.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|_| "19700101T000000Z".to_owned())
}

/// A TEXT value escaped: `\` `;` `,` and newlines.
pub fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A parameter value (`CN=…`): quoted when it holds `:`, `;` or `,`; a double quote, which
/// no parameter value may hold, becomes a single one, and control characters are dropped.
fn parameter(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' { '\'' } else { c })
        .collect();
    if clean.contains([':', ';', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

/// A content line folded: at most 75 octets per line, continuation lines starting with one
/// space, never inside a UTF-8 character.
pub fn fold(line: &str) -> String {
    const MAX: usize = 75;
    let mut out = String::with_capacity(line.len() + line.len() / MAX * 3);
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > MAX {
            out.push_str("\r\n ");
            // The leading space counts toward the next line's 75 octets.
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap_or(Timestamp(0))
    }

    /// The example request of the reference (RFC 5545 object, iTIP REQUEST), folded.
    const VECTOR: &str = "BEGIN:VCALENDAR\r\n\
PRODID:-//Onboard//Kickoff invites 1.0//EN\r\n\
VERSION:2.0\r\n\
CALSCALE:GREGORIAN\r\n\
METHOD:REQUEST\r\n\
BEGIN:VEVENT\r\n\
UID:0193a1c2-7d9e-7cc0-9a51-3f2b8e4d1a77@onboard.example.com\r\n\
DTSTAMP:20261121T091500Z\r\n\
DTSTART:20261125T150000Z\r\n\
DTEND:20261125T153000Z\r\n\
SEQUENCE:0\r\n\
STATUS:CONFIRMED\r\n\
SUMMARY:ACME kickoff call\r\n\
DESCRIPTION:Agenda: goals\\, data import\\, timeline.\\nJoin: https://meet.exa\r\n \
mple.com/abc\r\n\
LOCATION:https://meet.example.com/abc\r\n\
ORGANIZER;CN=OurCo Onboarding:mailto:onboarding@example.com\r\n\
ATTENDEE;CN=Jane Doe;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:m\r\n \
ailto:jane@acme.example\r\n\
ATTENDEE;CN=Sam CSM;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:sam@examp\r\n \
le.com\r\n\
BEGIN:VALARM\r\n\
ACTION:DISPLAY\r\n\
DESCRIPTION:Reminder\r\n\
TRIGGER:-PT15M\r\n\
END:VALARM\r\n\
END:VEVENT\r\n\
END:VCALENDAR\r\n";

    fn example() -> Invite {
        Invite {
            uid: "0193a1c2-7d9e-7cc0-9a51-3f2b8e4d1a77@onboard.example.com".to_owned(),
            sequence: 0,
            stamp: at("2026-11-21T09:15:00Z"),
            start: at("2026-11-25T15:00:00Z"),
            end: at("2026-11-25T15:30:00Z"),
            summary: "ACME kickoff call".to_owned(),
            description:
                "Agenda: goals, data import, timeline.\nJoin: https://meet.example.com/abc"
                    .to_owned(),
            location: Some("https://meet.example.com/abc".to_owned()),
            organizer: Party {
                name: "OurCo Onboarding".to_owned(),
                email: "onboarding@example.com".to_owned(),
            },
            attendees: vec![
                Attendee {
                    party: Party {
                        name: "Jane Doe".to_owned(),
                        email: "jane@acme.example".to_owned(),
                    },
                    accepted: false,
                },
                Attendee {
                    party: Party {
                        name: "Sam CSM".to_owned(),
                        email: "sam@example.com".to_owned(),
                    },
                    accepted: true,
                },
            ],
            reminder: Some(Duration::parse("15m").unwrap_or(Duration::MINUTE)),
        }
    }

    #[test]
    fn the_reference_request_is_written_byte_for_byte() {
        assert_eq!(example().request(), VECTOR);
    }

    #[test]
    fn every_line_ends_in_crlf_and_holds_at_most_75_octets() {
        let mut invite = example();
        invite.description = "Ünïcödé ".repeat(40);
        let object = invite.request();
        assert!(object.ends_with("\r\n"));
        for line in object.split("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
            assert!(!line.contains('\n') && !line.contains('\r'));
        }
        // Unfolding gives the value back whole (no character split).
        let unfolded = object.replace("\r\n ", "");
        assert!(unfolded.contains(&text(&invite.description)));
    }

    #[test]
    fn text_values_escape_backslashes_semicolons_commas_and_newlines() {
        assert_eq!(text("a\\b;c,d\ne\r\nf"), "a\\\\b\\;c\\,d\\ne\\nf");
    }

    #[test]
    fn a_change_keeps_the_uid_and_counts_its_sequence() {
        let mut moved = example();
        moved.sequence = 1;
        moved.start = at("2026-11-26T15:00:00Z");
        moved.end = at("2026-11-26T15:30:00Z");
        let object = moved.request();
        assert!(object.contains("\r\nSEQUENCE:1\r\n"));
        assert!(object.contains("\r\nDTSTART:20261126T150000Z\r\n"));
        assert!(
            object.contains("\r\nUID:0193a1c2-7d9e-7cc0-9a51-3f2b8e4d1a77@onboard.example.com\r\n")
        );
    }

    #[test]
    fn names_with_separators_are_quoted_in_parameters() {
        assert_eq!(parameter("Doe, Jane"), "\"Doe, Jane\"");
        assert_eq!(parameter("Jane \"JD\" Doe"), "Jane 'JD' Doe");
        assert_eq!(parameter("Jane Doe"), "Jane Doe");
    }
}
