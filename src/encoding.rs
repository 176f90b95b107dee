//! Lenient base64, shared by the API key's embedded URL (settings) and base64 attachments (media).
//! Depends on nothing in the crate.

use base64::Engine;

/// Base64 in either alphabet, padding optional (the "padding repair" the SDKs do).
pub(crate) fn decode_base64_lenient(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    let cfg = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, cfg);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, cfg);
    standard.decode(s).ok().or_else(|| url_safe.decode(s).ok())
}
