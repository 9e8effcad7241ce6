//! OpenPGP keyrings and the verification of `InRelease` (clearsigned) and `Release` +
//! `Release.gpg` (detached) signatures, with the key policy apt's `gpgv`/`sqv` apply.
//!
//! rpgp checks signature mathematics only; this module adds the policy:
//!
//! - the signing key (primary or subkey) must be in the caller's keyring;
//! - it must be valid when the signature was made, and at the caller's `now` if one is given:
//!   created before, not expired, not revoked (revocations are honoured whatever their reason),
//!   with a valid self-signature (primary) or a valid binding signature with a valid embedded
//!   back-signature (subkey);
//! - it must be signing-capable (key flags), except for a primary key whose self-signature
//!   carries no key flags at all (old keys), which is accepted as gpg does;
//! - data signatures made with MD5, SHA-1 or RIPEMD-160 are refused unless
//!   [`VerifyPolicy::allow_weak_hashes`] is set (self- and binding signatures on keys are not
//!   subject to this rule, because old archive keys carry SHA-1 bindings);
//! - a signature that names a keyring key but does not verify makes the whole document fail,
//!   even if another signature is good (apt treats `BADSIG` the same way); signatures by
//!   unknown keys are ignored if another is good.
//!
//! Only the signed text of an `InRelease` file is returned: anything outside the signature
//! framing (leading or trailing data) is an error, never silently dropped or trusted.

use std::path::Path;

use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Packet, PacketParser, Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, Tag};

use crate::Error;

/// A set of OpenPGP public keys (certificates) trusted to sign repository metadata.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    /// SHA-256 of each input the keys were read from, in order: the keyring's identity.
    sources: Vec<mbi_core::Digest>,
}

impl Keyring {
    /// An empty keyring (verifies nothing).
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Reads keys from `bytes`: a binary keyring (`.gpg`, possibly several concatenated keys)
    /// or one or more armoured blocks (`.asc`). `context` names the source in errors. Keys rpgp
    /// cannot parse are skipped; a keyring with no usable key is an error.
    pub fn from_bytes(bytes: &[u8], context: &str) -> Result<Keyring, Error> {
        let kerr = |reason: String| Error::Keyring { context: context.to_owned(), reason };
        const BEGIN: &[u8] = b"-----BEGIN PGP PUBLIC KEY BLOCK-----";
        const END: &[u8] = b"-----END PGP PUBLIC KEY BLOCK-----";
        let mut keys = Vec::new();
        let mut errors = Vec::new();
        if memchr::memmem::find(bytes, BEGIN).is_some() {
            let mut rest = bytes;
            while let Some(b) = memchr::memmem::find(rest, BEGIN) {
                let block = &rest[b..];
                let e = memchr::memmem::find(block, END)
                    .ok_or_else(|| kerr("armoured block without END line".into()))?;
                let block_bytes = &block[..e + END.len()];
                rest = &block[e + END.len()..];
                match SignedPublicKey::from_armor_many(block_bytes) {
                    Ok((iter, _)) => {
                        for k in iter {
                            match k {
                                Ok(k) => keys.push(k),
                                Err(e) => errors.push(e.to_string()),
                            }
                        }
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
        } else {
            // Keyrings written by `gpg --no-default-keyring --keyring` (as Ubuntu's
            // ubuntu-keyring package ships) interleave trust packets, which make the parser
            // lose the self-signatures that follow them.
            let stripped = strip_trust_packets(bytes);
            match SignedPublicKey::from_bytes_many(&stripped[..]) {
                Ok(iter) => {
                    for k in iter {
                        match k {
                            Ok(k) => keys.push(k),
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        if keys.is_empty() {
            return Err(kerr(match errors.first() {
                Some(e) => format!("no usable public key ({e})"),
                None => "no public key found".into(),
            }));
        }
        Ok(Keyring { keys, sources: vec![mbi_core::Digest::sha256(bytes)] })
    }

    /// Reads a keyring file (binary or armoured).
    pub fn load(path: &Path) -> Result<Keyring, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read keyring", path, e))?;
        Keyring::from_bytes(&bytes, &path.display().to_string())
    }

    /// Adds every key of `other`.
    pub fn extend(&mut self, other: Keyring) {
        self.keys.extend(other.keys);
        self.sources.extend(other.sources);
    }

    /// The SHA-256 of every input (file or armoured text) the keys were read from, in the
    /// order they were added: equal lists mean the same key material, without comparing keys.
    pub fn source_digests(&self) -> &[mbi_core::Digest] {
        &self.sources
    }

    /// Number of primary keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the keyring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The primary keys' fingerprints (upper-case hex), in keyring order.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|k| hex_upper(k.primary_key.fingerprint().as_bytes())).collect()
    }
}

/// How strict verification is. The default is strict: no weak hashes, key validity checked at
/// the signature's creation time only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Accept data signatures made with MD5, SHA-1 or RIPEMD-160. Off by default.
    pub allow_weak_hashes: bool,
    /// Also require the key and signature to be valid (not expired, not revoked) at this time
    /// (Unix seconds). The CLI passes the current time; a rebuild from a lock may pass the
    /// lock's date or `None`.
    pub now: Option<i64>,
}

/// Who signed a verified document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signer {
    /// Fingerprint of the key that made the signature (a subkey or the primary), upper-case hex.
    pub key_fingerprint: String,
    /// Fingerprint of its primary key, upper-case hex.
    pub primary_fingerprint: String,
    /// The signature's creation time (Unix seconds).
    pub signed_at: i64,
}

/// Verifies a clearsigned document (`InRelease`) and returns the signed text (with `\n` line
/// endings and dash-escaping removed) and its signer. `context` names the document in errors.
pub fn verify_clearsigned(
    data: &[u8],
    keyring: &Keyring,
    policy: &VerifyPolicy,
    context: &str,
) -> Result<(String, Signer), Error> {
    let (text, check) = check_clearsigned(data, keyring, context)?;
    Ok((text, check.judge(policy, context)?))
}

/// The expensive, time-independent half of [`verify_clearsigned`]: parses the document and
/// checks every signature's mathematics and the signing keys' self-signatures, bindings and
/// revocations against `keyring`. Returns the signed text and a [`SignatureCheck`] that
/// [`SignatureCheck::judge`] turns into a verdict at a given time. The text must not be trusted
/// before `judge` accepted it.
pub fn check_clearsigned(
    data: &[u8],
    keyring: &Keyring,
    context: &str,
) -> Result<(String, SignatureCheck), Error> {
    let sig_err = |reason: String| Error::Signature { context: context.to_owned(), reason };
    let text = std::str::from_utf8(data).map_err(|_| sig_err("not UTF-8 text".into()))?;
    let (msg, _headers) = CleartextSignedMessage::from_string(text)
        .map_err(|e| sig_err(format!("malformed clearsigned message: {e}")))?;
    let signed = msg.signed_text();
    let check = SignatureCheck::of(msg.signatures(), signed.as_bytes(), keyring);
    Ok((signed.replace("\r\n", "\n"), check))
}

/// Extracts the signed text of a clearsigned document WITHOUT verifying it (for tools that
/// inspect, and for fuzzing the framing). Never use the result as trusted input.
pub fn clearsigned_text_unverified(data: &[u8]) -> Result<String, Error> {
    let err = |reason: String| Error::Signature { context: "clearsigned text".into(), reason };
    let text = std::str::from_utf8(data).map_err(|_| err("not UTF-8 text".into()))?;
    let (msg, _) = CleartextSignedMessage::from_string(text)
        .map_err(|e| err(format!("malformed clearsigned message: {e}")))?;
    Ok(msg.signed_text().replace("\r\n", "\n"))
}

/// Verifies a detached signature (`Release.gpg`, armoured or binary, possibly several
/// signatures) over `data`.
pub fn verify_detached(
    data: &[u8],
    signature: &[u8],
    keyring: &Keyring,
    policy: &VerifyPolicy,
    context: &str,
) -> Result<Signer, Error> {
    check_detached(data, signature, keyring, context)?.judge(policy, context)
}

/// The expensive, time-independent half of [`verify_detached`] (see [`check_clearsigned`]).
pub fn check_detached(
    data: &[u8],
    signature: &[u8],
    keyring: &Keyring,
    context: &str,
) -> Result<SignatureCheck, Error> {
    let sig_err = |reason: String| Error::Signature { context: context.to_owned(), reason };
    let mut sigs = Vec::new();
    let mut push_packets = |r: &mut dyn std::io::BufRead| -> Result<(), String> {
        for p in PacketParser::new(r) {
            match p {
                Ok(Packet::Signature(s)) => sigs.push(s),
                Ok(_) => return Err("unexpected non-signature packet".into()),
                Err(e) => return Err(format!("malformed signature: {e}")),
            }
        }
        Ok(())
    };
    if signature.starts_with(b"-----BEGIN")
        || memchr::memmem::find(signature, b"-----BEGIN PGP SIGNATURE-----").is_some()
    {
        let mut de = pgp::armor::Dearmor::new(signature);
        de.read_header().map_err(|e| sig_err(format!("malformed armour: {e}")))?;
        let mut br = std::io::BufReader::new(&mut de);
        push_packets(&mut br).map_err(sig_err)?;
    } else {
        let mut r = signature;
        push_packets(&mut r).map_err(sig_err)?;
    }
    if sigs.is_empty() {
        return Err(sig_err("no signature packet".into()));
    }
    Ok(SignatureCheck::of(&sigs, data, keyring))
}

/// What checking a document's signatures against a keyring established, independent of the
/// time: for each signature, whether its mathematics hold for a keyring key and, if so, the
/// facts about that key (creation, revocation, valid self-signatures and bindings with their
/// times, flags and expiry) that apt's key policy needs.
///
/// [`SignatureCheck::judge`] applies the policy (weak hashes, validity at signing time and at
/// `now`): the same verdict, word for word, as verifying from scratch with that policy. The
/// facts are plain data (serde), so a caller may keep them next to the document and keyring
/// they were computed from, keyed by both digests, and judge them again at another time
/// without repeating the public-key operations (the apt cache does; see `fetch`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignatureCheck {
    sigs: Vec<SigFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SigFacts {
    /// The issuer as printed in messages.
    issuer: String,
    outcome: SigOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum SigOutcome {
    /// No keyring key matches the issuer.
    UnknownKey,
    /// The mathematics fail for a key in the keyring.
    Bad(String),
    /// Refused whatever the time (not a document signature).
    Refused(String),
    /// The mathematics hold for this key.
    Verified(Box<VerifiedSig>),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct VerifiedSig {
    signed_at: Option<i64>,
    /// The data hash algorithm, when it is a weak one.
    weak_hash: Option<String>,
    /// Signature expiration time (seconds after creation; 0 or none: never).
    sig_expiration: Option<u64>,
    key_fingerprint: String,
    primary_fingerprint: String,
    key: KeyFacts,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct KeyFacts {
    primary_created: i64,
    primary_revoked: bool,
    /// Valid self-signatures (user-ID certifications, then direct-key signatures) that carry a
    /// creation time, in keyring order.
    self_sigs: Vec<SelfSig>,
    /// Set when a subkey made the signature.
    subkey: Option<SubkeyFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SelfSig {
    created: i64,
    key_expiration: Option<u64>,
    has_key_flags: bool,
    can_sign: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SubkeyFacts {
    created: i64,
    revoked: bool,
    /// Valid binding signatures with a creation time, in keyring order.
    bindings: Vec<Binding>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Binding {
    created: i64,
    key_expiration: Option<u64>,
    can_sign: bool,
    back_sig: BackSig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum BackSig {
    Valid,
    Invalid,
    Missing,
}

impl SignatureCheck {
    fn of(sigs: &[Signature], data: &[u8], keyring: &Keyring) -> SignatureCheck {
        let sigs = sigs
            .iter()
            .map(|sig| SigFacts {
                issuer: sig
                    .issuer_fingerprint()
                    .first()
                    .map(|f| hex_upper(f.as_bytes()))
                    .or_else(|| sig.issuer_key_id().first().map(|k| hex_upper(k.as_ref())))
                    .unwrap_or_else(|| "(no issuer)".into()),
                outcome: check_one(sig, data, keyring),
            })
            .collect();
        SignatureCheck { sigs }
    }

    /// Applies apt's policy at `policy.now` to the checked signatures: the signer of the first
    /// acceptable signature, or why none is. A signature by a keyring key whose mathematics
    /// fail rejects the document even if another is good; signatures by unknown keys are
    /// ignored if another is good. `context` names the document in errors.
    pub fn judge(&self, policy: &VerifyPolicy, context: &str) -> Result<Signer, Error> {
        let sig_err = |reason: String| Error::Signature { context: context.to_owned(), reason };
        let mut good: Option<Signer> = None;
        let mut problems = Vec::new();
        for sig in &self.sigs {
            let issuer = &sig.issuer;
            match &sig.outcome {
                SigOutcome::Verified(v) => match judge_one(v, policy) {
                    Ok(s) => {
                        if good.is_none() {
                            good = Some(s);
                        }
                    }
                    Err(r) => problems.push(format!("signature by {issuer}: {r}")),
                },
                SigOutcome::UnknownKey => {
                    problems.push(format!("signature by {issuer}: key not in the keyring"))
                }
                SigOutcome::Refused(r) => problems.push(format!("signature by {issuer}: {r}")),
                SigOutcome::Bad(r) => {
                    return Err(sig_err(format!("BAD signature by {issuer}: {r}")));
                }
            }
        }
        match good {
            Some(s) => Ok(s),
            None if problems.is_empty() => Err(sig_err("no signature".into())),
            None => Err(sig_err(format!("no valid signature: {}", problems.join("; ")))),
        }
    }
}

fn check_one(sig: &Signature, data: &[u8], keyring: &Keyring) -> SigOutcome {
    if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
        return SigOutcome::Refused(format!("not a document signature ({:?})", sig.typ()));
    }
    let key_ids = sig.issuer_key_id();
    let fps = sig.issuer_fingerprint();
    let matches = |k: &dyn KeyDetails| {
        key_ids.iter().any(|id| **id == k.legacy_key_id())
            || fps.iter().any(|fp| **fp == k.fingerprint())
    };
    let mut last_err = None;
    for cert in &keyring.keys {
        let mut candidates: Vec<Option<&SignedPublicSubKey>> = Vec::new();
        if matches(&cert.primary_key) {
            candidates.push(None);
        }
        for sk in &cert.public_subkeys {
            if matches(&sk.key) {
                candidates.push(Some(sk));
            }
        }
        for cand in candidates {
            let res = match cand {
                None => sig.verify(&cert.primary_key, data),
                Some(sk) => sig.verify(&sk.key, data),
            };
            if let Err(e) = res {
                last_err = Some(SigOutcome::Bad(e.to_string()));
                continue;
            }
            // The mathematics hold; collect what the policy needs.
            let weak_hash = sig
                .hash_alg()
                .filter(|h| {
                    matches!(h, HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160)
                })
                .map(|h| h.to_string());
            let key_fp = match cand {
                None => cert.primary_key.fingerprint(),
                Some(sk) => sk.key.fingerprint(),
            };
            return SigOutcome::Verified(Box::new(VerifiedSig {
                signed_at: created(sig),
                weak_hash,
                sig_expiration: sig.signature_expiration_time().map(|d| u64::from(d.as_secs())),
                key_fingerprint: hex_upper(key_fp.as_bytes()),
                primary_fingerprint: hex_upper(cert.primary_key.fingerprint().as_bytes()),
                key: key_facts(cert, cand),
            }));
        }
    }
    last_err.unwrap_or(SigOutcome::UnknownKey)
}

/// The policy half of verifying one signature whose mathematics hold.
fn judge_one(v: &VerifiedSig, policy: &VerifyPolicy) -> Result<Signer, String> {
    let Some(t) = v.signed_at else {
        return Err("signature has no creation time".into());
    };
    if let Some(h) = &v.weak_hash
        && !policy.allow_weak_hashes
    {
        return Err(format!("weak hash algorithm {h} (allow_weak_hashes is off)"));
    }
    if let Some(now) = policy.now {
        if t > now.saturating_add(300) {
            return Err("signature made in the future".into());
        }
        if let Some(d) = v.sig_expiration
            && d > 0
            && ended_by(t, d, now)
        {
            return Err("signature expired".into());
        }
    }
    let mut times = vec![t];
    times.extend(policy.now);
    for at in times {
        key_usable(&v.key, at).map_err(|r| {
            if at == t { format!("{r} at signature time") } else { format!("{r} now") }
        })?;
    }
    Ok(Signer {
        key_fingerprint: v.key_fingerprint.clone(),
        primary_fingerprint: v.primary_fingerprint.clone(),
        signed_at: t,
    })
}

/// `bytes` without OpenPGP trust packets (tag 12): local GnuPG bookkeeping, never signed, not
/// part of a transferable key. Returns the input unchanged if it is not a well-formed packet
/// sequence (the parser then reports what is wrong).
fn strip_trust_packets(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut stripped = false;
    while i < bytes.len() {
        let ctb = bytes[i];
        if ctb & 0x80 == 0 {
            return std::borrow::Cow::Borrowed(bytes);
        }
        let (tag, header, len) = if ctb & 0x40 == 0 {
            // Old format: length type in the low two bits.
            let tag = (ctb >> 2) & 0x0f;
            let n = match ctb & 3 {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => return std::borrow::Cow::Borrowed(bytes), // indeterminate length
            };
            let Some(l) = bytes.get(i + 1..i + 1 + n) else {
                return std::borrow::Cow::Borrowed(bytes);
            };
            let len = l.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
            (tag, 1 + n, len)
        } else {
            let tag = ctb & 0x3f;
            let Some(&o1) = bytes.get(i + 1) else { return std::borrow::Cow::Borrowed(bytes) };
            match o1 {
                0..=191 => (tag, 2, usize::from(o1)),
                192..=223 => {
                    let Some(&o2) = bytes.get(i + 2) else {
                        return std::borrow::Cow::Borrowed(bytes);
                    };
                    (tag, 3, ((usize::from(o1) - 192) << 8) + usize::from(o2) + 192)
                }
                255 => {
                    let Some(l) = bytes.get(i + 2..i + 6) else {
                        return std::borrow::Cow::Borrowed(bytes);
                    };
                    (tag, 6, l.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)))
                }
                _ => return std::borrow::Cow::Borrowed(bytes), // partial body lengths
            }
        };
        let Some(end) = i.checked_add(header).and_then(|h| h.checked_add(len)) else {
            return std::borrow::Cow::Borrowed(bytes);
        };
        let Some(packet) = bytes.get(i..end) else {
            return std::borrow::Cow::Borrowed(bytes);
        };
        if tag == 12 {
            stripped = true;
        } else {
            out.extend_from_slice(packet);
        }
        i = end;
    }
    if stripped { std::borrow::Cow::Owned(out) } else { std::borrow::Cow::Borrowed(bytes) }
}

fn has_key_flags(sig: &Signature) -> bool {
    sig.config().is_some_and(|c| {
        c.hashed_subpackets().any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    })
}

fn created(sig: &Signature) -> Option<i64> {
    sig.created().map(|t| t.as_secs() as i64)
}

/// The time-independent facts about the primary key (`sub == None`) or a subkey of `cert`
/// that [`key_usable`] judges: every public-key operation of the key policy happens here.
fn key_facts(cert: &SignedPublicKey, sub: Option<&SignedPublicSubKey>) -> KeyFacts {
    let primary = &cert.primary_key;
    let primary_revoked =
        cert.details.revocation_signatures.iter().any(|r| {
            r.typ() == Some(SignatureType::KeyRevocation) && r.verify_key(primary).is_ok()
        });
    // User-ID certifications and direct-key signatures that verify.
    let uid_sigs = cert.details.users.iter().flat_map(|u| {
        u.signatures.iter().map(move |s| {
            let ok = s.is_certification()
                && s.typ() != Some(SignatureType::CertRevocation)
                && s.verify_certification(primary, Tag::UserId, &u.id).is_ok();
            (s, ok)
        })
    });
    let direct = cert
        .details
        .direct_signatures
        .iter()
        .map(|s| (s, s.typ() == Some(SignatureType::Key) && s.verify_key(primary).is_ok()));
    let self_sigs = uid_sigs
        .chain(direct)
        .filter(|(_, ok)| *ok)
        .filter_map(|(s, _)| {
            Some(SelfSig {
                created: created(s)?,
                key_expiration: s.key_expiration_time().map(|d| u64::from(d.as_secs())),
                has_key_flags: has_key_flags(s),
                can_sign: s.key_flags().sign(),
            })
        })
        .collect();
    let subkey = sub.map(|sk| SubkeyFacts {
        created: sk.key.created_at().as_secs() as i64,
        revoked: sk.signatures.iter().any(|s| {
            s.typ() == Some(SignatureType::SubkeyRevocation)
                && s.verify_subkey_binding(primary, &sk.key).is_ok()
        }),
        bindings: sk
            .signatures
            .iter()
            .filter(|s| {
                s.typ() == Some(SignatureType::SubkeyBinding)
                    && s.verify_subkey_binding(primary, &sk.key).is_ok()
            })
            .filter_map(|s| {
                Some(Binding {
                    created: created(s)?,
                    key_expiration: s.key_expiration_time().map(|d| u64::from(d.as_secs())),
                    can_sign: s.key_flags().sign(),
                    back_sig: match s.embedded_signature() {
                        Some(back) if back.verify_primary_key_binding(&sk.key, primary).is_ok() => {
                            BackSig::Valid
                        }
                        Some(_) => BackSig::Invalid,
                        None => BackSig::Missing,
                    },
                })
            })
            .collect(),
    });
    KeyFacts {
        primary_created: primary.created_at().as_secs() as i64,
        primary_revoked,
        self_sigs,
        subkey,
    }
}

/// Whether the key described by `k` may sign at time `t`: created before, not revoked, a valid
/// self-signature (the newest made at or before `t`) that has not expired and, for a subkey, a
/// valid binding (the newest at or before `t`) with the signing flag, a valid back-signature
/// and no expiry.
fn key_usable(k: &KeyFacts, t: i64) -> Result<(), String> {
    if k.primary_created > t {
        return Err("primary key created after the signature".into());
    }
    if k.primary_revoked {
        return Err("primary key revoked".into());
    }
    // The newest valid self-signature made at or before t (the first of equal ones).
    let mut selfsig: Option<&SelfSig> = None;
    for s in &k.self_sigs {
        if s.created <= t && selfsig.is_none_or(|b| b.created < s.created) {
            selfsig = Some(s);
        }
    }
    let Some(selfsig) = selfsig else {
        return Err("primary key has no valid self-signature".into());
    };
    if let Some(d) = selfsig.key_expiration
        && d > 0
        && ended_by(k.primary_created, d, t)
    {
        return Err("primary key expired".into());
    }
    let Some(sk) = &k.subkey else {
        if selfsig.has_key_flags && !selfsig.can_sign {
            return Err("primary key is not signing-capable".into());
        }
        return Ok(());
    };
    if sk.created > t {
        return Err("subkey created after the signature".into());
    }
    if sk.revoked {
        return Err("subkey revoked".into());
    }
    let mut binding: Option<&Binding> = None;
    for b in &sk.bindings {
        if b.created <= t && binding.is_none_or(|x| x.created < b.created) {
            binding = Some(b);
        }
    }
    let Some(binding) = binding else {
        return Err("subkey has no valid binding signature".into());
    };
    if !binding.can_sign {
        return Err("subkey is not signing-capable".into());
    }
    match binding.back_sig {
        BackSig::Valid => {}
        BackSig::Invalid => return Err("subkey's back-signature does not verify".into()),
        BackSig::Missing => return Err("signing subkey lacks a back-signature".into()),
    }
    if let Some(d) = binding.key_expiration
        && d > 0
        && ended_by(sk.created, d, t)
    {
        return Err("subkey expired".into());
    }
    Ok(())
}

/// Whether something that started at `start` and lasts `secs` seconds has ended by `t`. Widened,
/// because the facts may come from a cache record, where any value can appear.
fn ended_by(start: i64, secs: u64, t: i64) -> bool {
    i128::from(start) + i128::from(secs) <= i128::from(t)
}

fn hex_upper(b: &[u8]) -> String {
    mbi_core::digest::to_hex(b).to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(signed_at: i64, sig_expiration: u64, created: i64, key_expiration: u64) -> String {
        let v = VerifiedSig {
            signed_at: Some(signed_at),
            weak_hash: None,
            sig_expiration: Some(sig_expiration),
            key_fingerprint: "AA".into(),
            primary_fingerprint: "AA".into(),
            key: KeyFacts {
                primary_created: created,
                primary_revoked: false,
                self_sigs: vec![SelfSig {
                    created,
                    key_expiration: Some(key_expiration),
                    has_key_flags: true,
                    can_sign: true,
                }],
                subkey: None,
            },
        };
        let c = SignatureCheck {
            sigs: vec![SigFacts {
                issuer: "AA".into(),
                outcome: SigOutcome::Verified(Box::new(v)),
            }],
        };
        // Through serde, as a cache record would bring it back.
        let c: SignatureCheck = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        let r = c.judge(&VerifyPolicy { allow_weak_hashes: false, now: Some(i64::MAX) }, "t");
        match r {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn times_at_the_limits_are_judged_not_overflowed() {
        // Found by reasoning about cache records: these sums overflowed an i64.
        assert!(check(i64::MAX, u64::MAX, 0, 0).contains("ok"));
        assert!(check(i64::MAX - 20, 10, 0, 0).contains("signature expired"));
        assert!(check(i64::MAX, 0, i64::MAX, u64::MAX).contains("ok"));
        assert!(check(i64::MAX, 0, 1, 5).contains("primary key expired"));
        assert!(check(i64::MIN, 0, i64::MIN, u64::MAX).contains("primary key expired now"));
    }
}
