//! A tonic codec that sends an already encoded protobuf message, so an exporter encodes a
//! request once (from a borrowed batch, with no clone) and can resend the same bytes on retry.

use std::marker::PhantomData;

use bytes::{BufMut, Bytes};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// Sends pre-encoded pieces (whose concatenation is the request message) and decodes the
/// response as `R`.
pub struct EncodedCodec<R>(PhantomData<R>);

impl<R> Default for EncodedCodec<R> {
    fn default() -> Self {
        EncodedCodec(PhantomData)
    }
}

impl<R: Message + Default + Send + 'static> Codec for EncodedCodec<R> {
    type Encode = Vec<Bytes>;
    type Decode = R;
    type Encoder = PartsEncoder;
    type Decoder = ProstDecoder<R>;

    fn encoder(&mut self) -> Self::Encoder {
        PartsEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder(PhantomData)
    }
}

/// Writes pre-encoded bytes.
pub struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

/// Writes pre-encoded pieces one after the other (joined encoded requests).
pub struct PartsEncoder;

impl Encoder for PartsEncoder {
    type Item = Vec<Bytes>;
    type Error = Status;

    fn encode(&mut self, item: Vec<Bytes>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.iter().map(Bytes::len).sum());
        for part in &item {
            dst.put_slice(part);
        }
        Ok(())
    }
}

/// Decodes a protobuf response.
pub struct ProstDecoder<R>(PhantomData<R>);

impl<R> Default for ProstDecoder<R> {
    fn default() -> Self {
        ProstDecoder(PhantomData)
    }
}

impl<R: Message + Default> Decoder for ProstDecoder<R> {
    type Item = R;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, Status> {
        R::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("cannot decode response: {e}")))
    }
}
