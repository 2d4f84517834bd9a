//! [`Chunks`], the body type of every response.

use std::collections::VecDeque;
use std::convert::Infallible;

use bytes::Bytes;

/// A response body of ready-made chunks, sent without copying.
pub struct Chunks(pub(super) VecDeque<Bytes>);

impl Chunks {
    pub(super) fn one(bytes: Bytes) -> Self {
        Chunks(VecDeque::from([bytes]))
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}
