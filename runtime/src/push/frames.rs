//! A resume's entries packed several to a `messages` frame, as many as fit in API Gateway's
//! 32 KB frame ([`WEBSOCKET_FRAME_BYTES`]): a resume of 500 entries is a handful of posts, not
//! 500 one after another, which a function's timeout would not allow (and API Gateway meters a
//! message per 32 KB, so fewer frames also cost less).

use contract::limits::WEBSOCKET_FRAME_BYTES;
use serde_json::value::RawValue;

use crate::domain::{Cursor, Keys, MessageJson, Seq, UserId};
use crate::protocol::StreamFrame;

/// Packs one user's entries, in feed order, into frames.
pub struct Packer<'a> {
    keys: &'a Keys,
    user: &'a UserId,
    /// The position just before the pending entries (where the next frame's `after` points).
    after: Seq,
    pending: Vec<(Seq, MessageJson)>,
    /// The frame the pending entries would make, in bytes.
    bytes: usize,
}

impl<'a> Packer<'a> {
    pub fn new(keys: &'a Keys, user: &'a UserId, after: Seq) -> Self {
        let mut packer = Self { keys, user, after, pending: Vec::new(), bytes: 0 };
        packer.bytes = packer.empty_frame_bytes();
        packer
    }

    /// Adds the next entry; returns the frame of the entries before it when it does not fit
    /// beside them. An entry too large to share a frame goes alone.
    pub fn push(&mut self, seq: Seq, message: MessageJson) -> Option<Vec<u8>> {
        let len = message.raw().get().len();
        // Beside other entries an entry also costs its separating comma.
        let full = !self.pending.is_empty() && self.bytes + 1 + len > WEBSOCKET_FRAME_BYTES;
        let frame = full.then(|| self.take());
        self.bytes += len + usize::from(!self.pending.is_empty());
        self.pending.push((seq, message));
        frame
    }

    /// The frame of what is pending, if anything is.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then(|| self.take())
    }

    /// The position of the last entry handed out in a frame.
    pub fn sent_up_to(&self) -> Seq {
        self.after
    }

    fn take(&mut self) -> Vec<u8> {
        let last = self.pending.last().map_or(self.after, |(seq, _)| *seq);
        let messages: Vec<&RawValue> = self.pending.iter().map(|(_, message)| message.raw()).collect();
        let frame = StreamFrame::Messages {
            messages,
            cursor: self.keys.encode_cursor(self.user, Cursor(last)),
            after: self.keys.encode_cursor(self.user, Cursor(self.after)),
        }
        .to_bytes();
        self.pending.clear();
        self.after = last;
        self.bytes = self.empty_frame_bytes();
        frame
    }

    /// A frame without entries: cursors are all of one length, whatever their position.
    fn empty_frame_bytes(&self) -> usize {
        let cursor = self.keys.encode_cursor(self.user, Cursor(self.after));
        StreamFrame::Messages { messages: Vec::new(), cursor: cursor.clone(), after: cursor }.to_bytes().len()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn entry(seq: u64, text_bytes: usize) -> (Seq, MessageJson) {
        let json = serde_json::json!({ "id": format!("m_{seq}"), "text": "x".repeat(text_bytes) }).to_string();
        (Seq(seq), MessageJson::from_stored(json.as_bytes()).unwrap())
    }

    #[test]
    fn entries_fill_frames_up_to_the_limit_in_order_and_chained() {
        let (keys, user) = (Keys::generate(), UserId::generate());
        let mut packer = Packer::new(&keys, &user, Seq(10));
        let mut frames = Vec::new();
        for seq in 11..=110 {
            frames.extend(packer.push(Seq(seq), entry(seq, 1_500).1));
        }
        frames.extend(packer.finish());
        assert!(frames.len() > 1 && frames.len() < 10, "{} frames for 100 entries of 1.5 KB", frames.len());
        let frames: Vec<Value> = frames
            .iter()
            .inspect(|f| assert!(f.len() <= WEBSOCKET_FRAME_BYTES, "{} bytes", f.len()))
            .map(|f| serde_json::from_slice(f).unwrap())
            .collect();
        let ids: Vec<String> = frames
            .iter()
            .flat_map(|f| f["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(ids, (11..=110).map(|seq| format!("m_{seq}")).collect::<Vec<_>>(), "every entry once, in order");
        assert_eq!(frames[0]["after"], keys.encode_cursor(&user, Cursor(Seq(10))));
        for pair in frames.windows(2) {
            assert_eq!(pair[1]["after"], pair[0]["cursor"], "chained");
        }
        assert_eq!(frames.last().unwrap()["cursor"], keys.encode_cursor(&user, Cursor(Seq(110))));
        assert_eq!(packer.sent_up_to(), Seq(110));
        // A frame is filled: the next entry would not have fit in it.
        let first_len = serde_json::to_vec(&frames[0]).unwrap().len();
        assert!(first_len + 1_520 > WEBSOCKET_FRAME_BYTES, "{first_len}");
    }

    #[test]
    fn an_entry_larger_than_a_frame_goes_alone() {
        let (keys, user) = (Keys::generate(), UserId::generate());
        let mut packer = Packer::new(&keys, &user, Seq(0));
        assert!(packer.push(Seq(1), entry(1, 100).1).is_none());
        let before = packer.push(Seq(2), entry(2, 40_000).1).expect("the small one's frame");
        assert_eq!(serde_json::from_slice::<Value>(&before).unwrap()["messages"].as_array().unwrap().len(), 1);
        let alone = packer.push(Seq(3), entry(3, 100).1).expect("the large one's frame");
        assert_eq!(serde_json::from_slice::<Value>(&alone).unwrap()["messages"][0]["id"], "m_2");
        assert!(packer.finish().is_some());
        assert!(packer.finish().is_none(), "nothing pending");
    }
}
