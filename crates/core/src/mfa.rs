//! Virtual MFA devices: TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second
//! steps) with a seed generated here, sealed at rest, shown once.
//!
//! What AWS documents and Ward follows
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable_virtual.html>,
//! <https://docs.aws.amazon.com/IAM/latest/APIReference/API_EnableMFADevice.html>):
//! a device is created unassigned, then enabled for one user with two
//! consecutive codes; a user holds at most 8 MFA devices; a device in use
//! cannot be deleted; a user with a device cannot be deleted.
//!
//! Verification (`GetSessionToken`, `AssumeRole`): the code must belong to
//! the device's clock (its drift is learned at enable and resync) within one
//! step either side, and to a later step than any code accepted before — a
//! code is good once. Five failures within five minutes lock the device for
//! the rest of those five minutes. Every outcome is written durably before
//! the caller is answered, so a replay or a guess cannot race a restart.

use crate::error::{ApiError, ApiResult};
use crate::iam::{get, key2, kind, lc, put, Iam, Page, Paging};
use crate::model::{Tag, User};
use crate::store::{Store, Tx};
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Secret, TOTP};

/// MFA devices a user may hold (AWS's quota since 2022).
pub const MFA_DEVICES_PER_USER: usize = 8;
/// Seconds per TOTP step.
pub const STEP: i64 = 30;
/// Failed verifications tolerated within [`FAILURE_WINDOW`] seconds.
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: i64 = 300;
/// Bytes of seed (AWS's seeds are 64 base32 characters: 40 bytes).
const SEED_BYTES: usize = 40;

/// A virtual MFA device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaDevice {
    pub account: String,
    pub name: String,
    pub path: String,
    /// The serial number: the device's ARN.
    pub serial: String,
    /// The base32 seed, sealed with the master key.
    pub sealed_seed: String,
    pub created: i64,
    /// The user it is enabled for.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub enabled: Option<i64>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The last step whose code was accepted (codes are good once).
    #[serde(default)]
    pub last_step: i64,
    /// The device's clock offset, in steps.
    #[serde(default)]
    pub drift: i64,
    /// Times of recent failed verifications.
    #[serde(default)]
    pub failures: Vec<i64>,
}

/// A new device with its seed and QR code (shown once).
#[derive(Debug, Clone)]
pub struct NewMfaDevice {
    pub device: MfaDevice,
    /// The base32 seed.
    pub seed: String,
    /// A PNG of the `otpauth://` URI as a QR code.
    pub qr_png: Vec<u8>,
}

/// Which virtual devices `ListVirtualMFADevices` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    Assigned,
    Unassigned,
    Any,
}

fn totp(seed: &str) -> ApiResult<TOTP> {
    let bytes = Secret::Encoded(seed.to_string()).to_bytes().map_err(|_| {
        let mut a = ApiError::internal();
        a.cause = Some("a stored MFA seed is not base32".into());
        a
    })?;
    Ok(TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes))
}

/// The code of one step.
fn code_at(t: &TOTP, step: i64) -> String {
    t.generate(u64::try_from(step.max(0) * STEP).unwrap_or(0))
}

/// The TOTP code of `seed` (base32) at time `at`: what an authenticator
/// app shows. (Tests and `ward mfa code` use it.)
pub fn totp_code(seed: &str, at: i64) -> ApiResult<String> {
    Ok(code_at(&totp(seed)?, at.div_euclid(STEP)))
}

/// `arn:aws:iam::ACCOUNT:mfa/PATH/NAME` → (account, name).
fn parse_serial(serial: &str) -> Option<(&str, &str)> {
    let rest = serial.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let _partition = parts.next()?;
    (parts.next()? == "iam").then_some(())?;
    let _region = parts.next()?;
    let account = parts.next()?;
    let res = parts.next()?.strip_prefix("mfa/")?;
    Some((account, res.rsplit('/').next()?))
}

fn no_device(serial: &str) -> ApiError {
    ApiError::no_such_entity(format!(
        "VirtualMFADevice with serial number {serial} doesn't exist."
    ))
}

fn invalid_code() -> ApiError {
    ApiError::new(
        "InvalidAuthenticationCode",
        403,
        "Authentication code for device is not valid.",
    )
}

const NOT_ASSOCIATED: &str = "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.";
const BAD_CODE: &str = "MultiFactorAuthentication failed with invalid MFA one time pass code.";
const TOO_MANY: &str =
    "MultiFactorAuthentication failed, too many failed attempts. Wait a few minutes and try again.";
/// Only one of `SerialNumber` and `TokenCode` was given.
pub const BOTH_NEEDED: &str =
    "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.";

/// The PNG of a QR code for `uri`: black modules on white, 4-module quiet
/// zone, 4 pixels a module.
fn qr_png(uri: &str) -> ApiResult<Vec<u8>> {
    let internal = |m: String| {
        let mut a = ApiError::internal();
        a.cause = Some(m);
        a
    };
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| internal(e.to_string()))?;
    let w = code.width();
    let colors = code.to_colors();
    const SCALE: usize = 4;
    const QUIET: usize = 4;
    let side = (w + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = (i % w, i / w);
        for dy in 0..SCALE {
            let row = (y + QUIET) * SCALE + dy;
            let start = row * side + (x + QUIET) * SCALE;
            if let Some(px) = pixels.get_mut(start..start + SCALE) {
                px.fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let side32 = u32::try_from(side).map_err(|e| internal(e.to_string()))?;
        let mut enc = png::Encoder::new(&mut out, side32, side32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(|e| internal(e.to_string()))?;
        wr.write_image_data(&pixels)
            .map_err(|e| internal(e.to_string()))?;
    }
    Ok(out)
}

impl<S: Store> Iam<S> {
    pub(crate) fn mfa_in(&self, tx: &dyn Tx, serial: &str) -> ApiResult<MfaDevice> {
        let (account, name) = parse_serial(serial).ok_or_else(|| no_device(serial))?;
        let d: MfaDevice =
            get(tx, kind::MFA, &key2(account, name))?.ok_or_else(|| no_device(serial))?;
        if d.serial != serial {
            return Err(no_device(serial));
        }
        Ok(d)
    }

    fn seed_of(&self, d: &MfaDevice) -> ApiResult<String> {
        self.sealer
            .open(&d.sealed_seed)
            .map(|s| s.to_string())
            .map_err(|_| {
                let mut a = ApiError::internal();
                a.cause = Some(format!("cannot unseal the seed of {}", d.serial));
                a
            })
    }

    /// `CreateVirtualMFADevice`.
    pub fn create_virtual_mfa_device(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        tags: Vec<Tag>,
        now: i64,
    ) -> ApiResult<NewMfaDevice> {
        let path = crate::iam::path_or_root(path);
        crate::iam::check_path(&path)?;
        let raw: [u8; SEED_BYTES] = crate::model::secret_bytes()?;
        let seed = match Secret::Raw(raw.to_vec()).to_encoded() {
            Secret::Encoded(s) => s,
            Secret::Raw(_) => return Err(ApiError::internal()),
        };
        let serial = self.arn(account, "mfa", &path, name);
        let label = format!("Ward:{name}@{account}");
        let uri = format!(
            "otpauth://totp/{}?secret={seed}&issuer=Ward",
            label.replace(' ', "%20")
        );
        let qr = qr_png(&uri)?;
        let device = MfaDevice {
            account: account.into(),
            name: name.into(),
            path,
            serial,
            sealed_seed: self.sealer.seal(&seed),
            created: now,
            user: None,
            enabled: None,
            tags,
            last_step: 0,
            drift: 0,
            failures: vec![],
        };
        self.write(|tx| {
            let k = key2(account, name);
            if tx.get(kind::MFA, &k)?.is_some() {
                return Err(ApiError::already_exists(
                    "MFADevice entity at the same path and name already exists.",
                ));
            }
            put(tx, kind::MFA, &k, &device)
        })?;
        Ok(NewMfaDevice {
            device,
            seed,
            qr_png: qr,
        })
    }

    /// Two consecutive codes: the first one's step, searched from `from`
    /// to `to` (relative to now, in steps).
    fn consecutive(
        &self,
        d: &MfaDevice,
        c1: &str,
        c2: &str,
        now: i64,
        (from, to): (i64, i64),
    ) -> ApiResult<Option<i64>> {
        let t = totp(&self.seed_of(d)?)?;
        let base = now.div_euclid(STEP);
        Ok((base + from..=base + to).find(|&s| code_at(&t, s) == c1 && code_at(&t, s + 1) == c2))
    }

    /// `EnableMFADevice`.
    pub fn enable_mfa_device(
        &self,
        account: &str,
        user: &str,
        serial: &str,
        c1: &str,
        c2: &str,
        now: i64,
    ) -> ApiResult<()> {
        self.write(|tx| {
            let u = self.user_in(tx, account, user)?;
            let mut d = self.mfa_in(tx, serial)?;
            if d.account != account {
                return Err(no_device(serial));
            }
            if d.user.is_some() {
                return Err(ApiError::already_exists("MFA Device is already in use."));
            }
            let lu = lc(&u.name);
            if tx.count(kind::USER_MFA, &format!("{account}/{lu}/"))? >= MFA_DEVICES_PER_USER as u64
            {
                return Err(ApiError::limit_exceeded(format!(
                    "Cannot exceed quota for MFADevicesPerUser: {MFA_DEVICES_PER_USER}"
                )));
            }
            // Codes from up to five minutes ago (a slow typist) or one step ahead.
            let Some(s) = self.consecutive(&d, c1, c2, now, (-10, 0))? else {
                return Err(invalid_code());
            };
            d.user = Some(u.name.clone());
            d.enabled = Some(now);
            d.last_step = s + 1;
            // Codes a step or so old are a person typing, not a clock off:
            // learn a drift only beyond that (AWS warns that codes submitted
            // long after they were generated leave the device out of sync).
            let off = s + 1 - now.div_euclid(STEP);
            d.drift = if off.abs() <= 1 { 0 } else { off };
            d.failures.clear();
            put(tx, kind::MFA, &key2(account, &d.name), &d)?;
            tx.put(
                kind::USER_MFA,
                &format!("{account}/{lu}/{}", lc(&d.name)),
                d.serial.as_bytes(),
            )?;
            Ok(())
        })
    }

    /// `ResyncMFADevice`: two consecutive codes within ten minutes of now
    /// re-learn the device's clock.
    pub fn resync_mfa_device(
        &self,
        account: &str,
        user: &str,
        serial: &str,
        c1: &str,
        c2: &str,
        now: i64,
    ) -> ApiResult<()> {
        self.write(|tx| {
            let u = self.user_in(tx, account, user)?;
            let mut d = self.mfa_in(tx, serial)?;
            if d.user.as_deref().map(lc) != Some(lc(&u.name)) {
                return Err(no_device(serial));
            }
            let Some(s) = self.consecutive(&d, c1, c2, now, (-20, 20))? else {
                return Err(invalid_code());
            };
            if s < d.last_step {
                return Err(invalid_code());
            }
            d.last_step = s + 1;
            d.drift = s + 1 - now.div_euclid(STEP);
            d.failures.clear();
            put(tx, kind::MFA, &key2(account, &d.name), &d)
        })
    }

    /// `DeactivateMFADevice`: the device stays, unassigned.
    pub fn deactivate_mfa_device(&self, account: &str, user: &str, serial: &str) -> ApiResult<()> {
        self.write(|tx| {
            let u = self.user_in(tx, account, user)?;
            let mut d = self.mfa_in(tx, serial)?;
            if d.user.as_deref().map(lc) != Some(lc(&u.name)) {
                return Err(ApiError::no_such_entity(format!(
                    "MFA Device with serial number {serial} does not exist."
                )));
            }
            tx.delete(
                kind::USER_MFA,
                &format!("{account}/{}/{}", lc(&u.name), lc(&d.name)),
            )?;
            d.user = None;
            d.enabled = None;
            put(tx, kind::MFA, &key2(account, &d.name), &d)
        })
    }

    /// `DeleteVirtualMFADevice`.
    pub fn delete_virtual_mfa_device(&self, account: &str, serial: &str) -> ApiResult<()> {
        self.write(|tx| {
            let d = self.mfa_in(tx, serial)?;
            if d.account != account {
                return Err(no_device(serial));
            }
            if d.user.is_some() {
                return Err(ApiError::delete_conflict(
                    "MFA device is still in use: deactivate it first.",
                ));
            }
            tx.delete(kind::MFA, &key2(account, &d.name))?;
            Ok(())
        })
    }

    /// A device by serial number, in `account`.
    pub fn get_mfa_device(&self, account: &str, serial: &str) -> ApiResult<MfaDevice> {
        self.store.read(|tx| {
            let d = self.mfa_in(tx, serial)?;
            if d.account != account {
                return Err(no_device(serial));
            }
            Ok(d)
        })
    }

    /// The devices enabled for a user.
    pub fn list_mfa_devices(
        &self,
        account: &str,
        user: &str,
        paging: &Paging,
    ) -> ApiResult<Page<MfaDevice>> {
        self.store.read(|tx| {
            let u = self.user_in(tx, account, user)?;
            let prefix = format!("{account}/{}/", lc(&u.name));
            let limit = paging.limit();
            let rows = tx.scan(kind::USER_MFA, &prefix, paging.marker.as_deref(), limit + 1)?;
            let more = rows.len() > limit;
            let mut items = Vec::new();
            let mut marker = None;
            for (k, serial) in rows.into_iter().take(limit) {
                let serial = String::from_utf8_lossy(&serial).into_owned();
                items.push(self.mfa_in(tx, &serial)?);
                marker = Some(k);
            }
            Ok(Page {
                items,
                marker: if more { marker } else { None },
            })
        })
    }

    /// `ListVirtualMFADevices`: devices with the user each is enabled for.
    pub fn list_virtual_mfa_devices(
        &self,
        account: &str,
        which: Assignment,
        paging: &Paging,
    ) -> ApiResult<Page<(MfaDevice, Option<User>)>> {
        self.store.read(|tx| {
            let page = crate::iam::list_filtered(
                tx,
                kind::MFA,
                &format!("{account}/"),
                paging,
                |d: &MfaDevice| match which {
                    Assignment::Any => true,
                    Assignment::Assigned => d.user.is_some(),
                    Assignment::Unassigned => d.user.is_none(),
                },
            )?;
            let mut items = Vec::with_capacity(page.items.len());
            for d in page.items {
                let u = match &d.user {
                    Some(n) => Some(self.user_in(tx, account, n)?),
                    None => None,
                };
                items.push((d, u));
            }
            Ok(Page {
                items,
                marker: page.marker,
            })
        })
    }

    /// Verify a code for a user's (or, with `user: None`, the root user's)
    /// device; the time MFA was authenticated. Every outcome is recorded
    /// durably before it is returned.
    pub fn verify_mfa(
        &self,
        account: &str,
        user: Option<&str>,
        serial: &str,
        code: &str,
        now: i64,
    ) -> ApiResult<i64> {
        let outcome: Result<(), &'static str> = self.write(|tx| {
            let Ok(mut d) = self.mfa_in(tx, serial) else {
                return Ok(Err(NOT_ASSOCIATED));
            };
            let owner_ok = d.account == account
                && match user {
                    Some(u) => d.user.as_deref().map(lc) == Some(lc(u)),
                    None => false,
                };
            if !owner_ok {
                return Ok(Err(NOT_ASSOCIATED));
            }
            d.failures.retain(|&t| now - t < FAILURE_WINDOW);
            if d.failures.len() >= MAX_FAILURES {
                put(tx, kind::MFA, &key2(account, &d.name), &d)?;
                return Ok(Err(TOO_MANY));
            }
            let t = totp(&self.seed_of(&d)?)?;
            let at = now.div_euclid(STEP) + d.drift;
            let hit = (at - 1..=at + 1)
                .filter(|&s| s > d.last_step)
                .find(|&s| code_at(&t, s) == code);
            let r = match hit {
                Some(s) => {
                    d.last_step = s;
                    d.failures.clear();
                    Ok(())
                }
                None => {
                    d.failures.push(now);
                    Err(BAD_CODE)
                }
            };
            put(tx, kind::MFA, &key2(account, &d.name), &d)?;
            Ok::<_, ApiError>(r)
        })?;
        match outcome {
            Ok(()) => Ok(now),
            Err(msg) => Err(ApiError::access_denied(msg)),
        }
    }

    /// Tags of a device.
    pub(crate) fn mfa_tags(&self, tx: &dyn Tx, account: &str, serial: &str) -> ApiResult<Vec<Tag>> {
        let d = self.mfa_in(tx, serial)?;
        if d.account != account {
            return Err(no_device(serial));
        }
        Ok(d.tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Sealer;
    use crate::store::MemStore;
    use std::sync::Arc;

    const A: &str = "123456789012";

    fn setup() -> (Iam<MemStore>, NewMfaDevice) {
        let i = Iam::new(
            Arc::new(MemStore::new()),
            Sealer::new(&Sealer::generate_key()),
        );
        i.ensure_account(A, 0).unwrap();
        i.create_user(A, "alice", None, vec![], None, 0).unwrap();
        let d = i
            .create_virtual_mfa_device(A, "alice", None, vec![], 0)
            .unwrap();
        (i, d)
    }

    #[test]
    fn rfc6238_vectors() {
        // RFC 6238 appendix B, SHA-1, seed "12345678901234567890"; 6-digit
        // codes are the last 6 digits of the 8-digit ones.
        let seed = match Secret::Raw(b"12345678901234567890".to_vec()).to_encoded() {
            Secret::Encoded(s) => s,
            Secret::Raw(_) => unreachable!(),
        };
        assert_eq!(totp_code(&seed, 59).unwrap(), "287082");
        assert_eq!(totp_code(&seed, 1_111_111_109).unwrap(), "081804");
        assert_eq!(totp_code(&seed, 1_234_567_890).unwrap(), "005924");
        assert_eq!(totp_code(&seed, 2_000_000_000).unwrap(), "279037");
    }

    #[test]
    fn enable_verify_replay_and_lockout() {
        let (i, new) = setup();
        let serial = new.device.serial.clone();
        assert_eq!(serial, format!("arn:aws:iam::{A}:mfa/alice"));
        assert!(new.qr_png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(new.seed.len(), 64);
        let now = 1_800_000_000;
        let code = |t: i64| totp_code(&new.seed, t).unwrap();
        // Not consecutive: refused.
        let e = i
            .enable_mfa_device(A, "alice", &serial, &code(now), &code(now - 60), now)
            .unwrap_err();
        assert_eq!(e.code, "InvalidAuthenticationCode");
        i.enable_mfa_device(A, "alice", &serial, &code(now - 30), &code(now), now)
            .unwrap();
        // A code already used at enable time is not good again.
        let e = i
            .verify_mfa(A, Some("alice"), &serial, &code(now), now)
            .unwrap_err();
        assert!(
            e.message.contains("invalid MFA one time pass code"),
            "{e:?}"
        );
        // The next step's code is good once.
        let later = now + 30;
        assert_eq!(
            i.verify_mfa(A, Some("alice"), &serial, &code(later), later)
                .unwrap(),
            later
        );
        let e = i
            .verify_mfa(A, Some("alice"), &serial, &code(later), later + 5)
            .unwrap_err();
        assert!(
            e.message.contains("invalid MFA one time pass code"),
            "{e:?}"
        );
        // Another user, or a device that does not exist: not associated.
        i.create_user(A, "bob", None, vec![], None, 0).unwrap();
        let e = i
            .verify_mfa(A, Some("bob"), &serial, &code(later + 30), later + 30)
            .unwrap_err();
        assert!(e.message.contains("associated with this user"), "{e:?}");
        // Five wrong codes lock the device, even for the right code.
        let t = later + 60;
        for _ in 0..MAX_FAILURES {
            i.verify_mfa(A, Some("alice"), &serial, "000000", t)
                .unwrap_err();
        }
        let e = i
            .verify_mfa(A, Some("alice"), &serial, &code(t), t)
            .unwrap_err();
        assert!(e.message.contains("too many failed attempts"), "{e:?}");
        // After the window it works again.
        let t2 = t + FAILURE_WINDOW + 30;
        i.verify_mfa(A, Some("alice"), &serial, &code(t2), t2)
            .unwrap();
    }

    #[test]
    fn quota_conflicts_and_listing() {
        let (i, new) = setup();
        let serial = new.device.serial.clone();
        let now = 1_800_000_000;
        let code = |t: i64| totp_code(&new.seed, t).unwrap();
        let e = i
            .create_virtual_mfa_device(A, "alice", None, vec![], 0)
            .unwrap_err();
        assert_eq!(e.code, "EntityAlreadyExists");
        i.enable_mfa_device(A, "alice", &serial, &code(now - 30), &code(now), now)
            .unwrap();
        let e = i
            .enable_mfa_device(A, "alice", &serial, &code(now), &code(now + 30), now + 30)
            .unwrap_err();
        assert_eq!(e.code, "EntityAlreadyExists");
        assert_eq!(
            i.delete_virtual_mfa_device(A, &serial).unwrap_err().code,
            "DeleteConflict"
        );
        assert_eq!(
            i.delete_user(A, "alice").unwrap_err().code,
            "DeleteConflict"
        );
        let page = i.list_mfa_devices(A, "alice", &Paging::default()).unwrap();
        assert_eq!(page.items.len(), 1);
        let v = i
            .list_virtual_mfa_devices(A, Assignment::Unassigned, &Paging::default())
            .unwrap();
        assert!(v.items.is_empty());
        i.deactivate_mfa_device(A, "alice", &serial).unwrap();
        let v = i
            .list_virtual_mfa_devices(A, Assignment::Unassigned, &Paging::default())
            .unwrap();
        assert_eq!(v.items.len(), 1);
        i.delete_virtual_mfa_device(A, &serial).unwrap();
        i.delete_user(A, "alice").unwrap();
    }
}
