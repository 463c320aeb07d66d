//! Request bodies: reading with a size limit and decompressing with the same limit on the
//! decompressed size, so a gzip bomb is cut off instead of inflated.

use std::io::Read;

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the limit (compressed or decompressed).
    TooLarge,
    /// Unsupported or corrupt encoding.
    Bad(String),
}

/// Decompresses `body` per the `Content-Encoding` value, failing once the output would exceed
/// `limit` bytes. Supported: identity, gzip, zstd, deflate/zlib.
pub fn decompress(encoding: &str, body: &[u8], limit: u64) -> Result<Vec<u8>, BodyError> {
    let encoding = encoding.trim().to_ascii_lowercase();
    let reader: Box<dyn Read + '_> = match encoding.as_str() {
        "" | "identity" => {
            if body.len() as u64 > limit {
                return Err(BodyError::TooLarge);
            }
            return Ok(body.to_vec());
        }
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(body)),
        "deflate" | "zlib" => Box::new(flate2::read::ZlibDecoder::new(body)),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(body)
                .map_err(|e| BodyError::Bad(format!("zstd: {e}")))?,
        ),
        other => {
            return Err(BodyError::Bad(format!(
                "unsupported Content-Encoding {other:?} (supported: gzip, zstd, deflate)"
            )))
        }
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit as usize));
    reader
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Bad(format!("cannot decompress {encoding} body: {e}")))?;
    if out.len() as u64 > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn decompresses_each_encoding() {
        let data = b"hello otlp".repeat(100);
        assert_eq!(decompress("gzip", &gzip(&data), 1 << 20).unwrap(), data);
        assert_eq!(
            decompress("zstd", &zstd::encode_all(&data[..], 3).unwrap(), 1 << 20).unwrap(),
            data
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&data).unwrap();
        assert_eq!(
            decompress("deflate", &z.finish().unwrap(), 1 << 20).unwrap(),
            data
        );
        assert_eq!(decompress("", &data, 1 << 20).unwrap(), data);
    }

    #[test]
    fn cuts_off_a_gzip_bomb_at_the_limit() {
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        assert_eq!(decompress("gzip", &bomb, 1 << 20), Err(BodyError::TooLarge));
    }

    #[test]
    fn rejects_unknown_and_corrupt_encodings() {
        assert!(matches!(decompress("br", b"x", 10), Err(BodyError::Bad(_))));
        assert!(matches!(
            decompress("gzip", b"not gzip", 10),
            Err(BodyError::Bad(_))
        ));
    }
}
