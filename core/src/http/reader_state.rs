//! [`ReaderState`]: a [`ResponseReader`]'s progress without its buffers, so that a driver
//! lent the buffers anew on each call (a superloop's) can park a read between calls.

use super::{ReaderConfig, ResponseReader, State};
use crate::transport::RetryAfter;

/// Everything a [`ResponseReader`] knows apart from its two buffers, so that a driver that
/// is lent the buffers anew on each call (a superloop's) can put a read aside between
/// calls and take it up again ([`ResponseReader::park`], [`ResponseReader::resume`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ReaderState {
    head_len: usize,
    config: ReaderConfig,
    state: State,
    status: u16,
    retry_after: Option<RetryAfter>,
    protobuf: bool,
    body_len: usize,
    drained: usize,
    received: usize,
    unfolded: usize,
}

impl<'a> ResponseReader<'a> {
    /// The reader's progress, without its buffers.
    pub fn park(&self) -> ReaderState {
        ReaderState {
            head_len: self.head_len,
            config: self.config,
            state: self.state,
            status: self.status,
            retry_after: self.retry_after,
            protobuf: self.protobuf,
            body_len: self.body_len,
            drained: self.drained,
            received: self.received,
            unfolded: self.unfolded,
        }
    }

    /// A reader that goes on from `state` with `head` and `body`, which must be the
    /// buffers (same contents, same sizes) the parked reader had: what it already read is
    /// in them.
    pub fn resume(head: &'a mut [u8], body: &'a mut [u8], state: ReaderState) -> Self {
        ResponseReader {
            head_cap: head.len(),
            head,
            head_len: state.head_len,
            body,
            config: state.config,
            state: state.state,
            status: state.status,
            retry_after: state.retry_after,
            protobuf: state.protobuf,
            body_len: state.body_len,
            drained: state.drained,
            received: state.received,
            unfolded: state.unfolded,
        }
    }
}
