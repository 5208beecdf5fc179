//! The one security descriptor of every file and directory: everyone may
//! read, list and traverse; nobody may write (the volume is read-only
//! anyway). Built here as the self-relative binary Windows takes, so that
//! it needs no Windows API and is checked on any host.

use crate::status::NtStatus;

/// The descriptor in SDDL: owner and group BUILTIN\Administrators, a
/// protected DACL with one entry allowing Everyone generic read and
/// execute (`FILE_GENERIC_READ | FILE_GENERIC_EXECUTE`).
pub const SDDL: &str = "O:BAG:BAD:P(A;;FRFX;;;WD)";

/// `FILE_GENERIC_READ`.
pub const FILE_GENERIC_READ: u32 = 0x0012_0089;
/// `FILE_GENERIC_EXECUTE`.
pub const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;

/// `SE_DACL_PRESENT | SE_DACL_PROTECTED | SE_SELF_RELATIVE`.
const CONTROL: u16 = 0x0004 | 0x1000 | 0x8000;
/// `ACCESS_ALLOWED_ACE_TYPE`.
const ACCESS_ALLOWED: u8 = 0;
/// `ACL_REVISION`.
const ACL_REVISION: u8 = 2;
/// Length of `SECURITY_DESCRIPTOR_RELATIVE`.
const HEADER: usize = 20;

/// S-1-5-32-544, BUILTIN\Administrators.
const ADMINISTRATORS: (u64, &[u32]) = (5, &[32, 544]);
/// S-1-1-0, Everyone.
const EVERYONE: (u64, &[u32]) = (1, &[0]);

/// A SID in its binary form.
fn sid((authority, subs): (u64, &[u32])) -> Vec<u8> {
    let mut out = vec![1, subs.len() as u8];
    out.extend_from_slice(&authority.to_be_bytes()[2..]);
    for s in subs {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// The descriptor ([`SDDL`]) in self-relative binary form.
pub fn descriptor() -> Vec<u8> {
    let owner = sid(ADMINISTRATORS);
    let everyone = sid(EVERYONE);
    let ace_len = 8 + everyone.len();
    let acl_len = 8 + ace_len;
    let owner_at = HEADER;
    let group_at = owner_at + owner.len();
    let dacl_at = group_at + owner.len();
    let mut out = Vec::with_capacity(dacl_at + acl_len);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&CONTROL.to_le_bytes());
    for offset in [owner_at, group_at, 0, dacl_at] {
        out.extend_from_slice(&(offset as u32).to_le_bytes());
    }
    out.extend_from_slice(&owner);
    out.extend_from_slice(&owner);
    out.extend_from_slice(&[ACL_REVISION, 0]);
    out.extend_from_slice(&(acl_len as u16).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&[ACCESS_ALLOWED, 0]);
    out.extend_from_slice(&(ace_len as u16).to_le_bytes());
    out.extend_from_slice(&(FILE_GENERIC_READ | FILE_GENERIC_EXECUTE).to_le_bytes());
    out.extend_from_slice(&everyone);
    out
}

/// Copies the descriptor into WinFsp's buffer and returns its length;
/// `STATUS_BUFFER_OVERFLOW` when the buffer is too small (WinFsp asks
/// again with a larger one).
pub fn fill(buffer: &mut [u8]) -> Result<u64, NtStatus> {
    let sd = descriptor();
    let dst = buffer
        .get_mut(..sd.len())
        .ok_or(NtStatus::BUFFER_OVERFLOW)?;
    dst.copy_from_slice(&sd);
    Ok(sd.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], at: usize) -> usize {
        usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// A binary SID at `at` as its string form, and its length.
    fn sid_string(b: &[u8], at: usize) -> (String, usize) {
        assert_eq!(b[at], 1, "SID revision");
        let count = usize::from(b[at + 1]);
        let mut authority = [0u8; 8];
        authority[2..].copy_from_slice(&b[at + 2..at + 8]);
        let mut s = format!("S-1-{}", u64::from_be_bytes(authority));
        for i in 0..count {
            s.push_str(&format!("-{}", u32_at(b, at + 8 + 4 * i)));
        }
        (s, 8 + 4 * count)
    }

    #[test]
    fn the_descriptor_is_what_its_sddl_says() {
        let sd = descriptor();
        assert_eq!((sd[0], sd[1]), (1, 0), "revision");
        assert_eq!(
            u16_at(&sd, 2),
            0x9004,
            "DACL present and protected, self-relative"
        );
        let (owner, group, sacl, dacl) = (
            u32_at(&sd, 4) as usize,
            u32_at(&sd, 8) as usize,
            u32_at(&sd, 12),
            u32_at(&sd, 16) as usize,
        );
        assert_eq!(sid_string(&sd, owner).0, "S-1-5-32-544", "O:BA");
        assert_eq!(sid_string(&sd, group).0, "S-1-5-32-544", "G:BA");
        assert_eq!(sacl, 0, "no SACL");
        assert_eq!(sd[dacl], 2, "ACL revision");
        let acl_len = u16_at(&sd, dacl + 2);
        assert_eq!(dacl + acl_len, sd.len(), "the DACL ends the descriptor");
        assert_eq!(u16_at(&sd, dacl + 4), 1, "one ACE");
        let ace = dacl + 8;
        assert_eq!(sd[ace], 0, "access allowed");
        assert_eq!(sd[ace + 1], 0, "not inherited, no inheritance flags");
        assert_eq!(ace + u16_at(&sd, ace + 2), sd.len(), "ACE size");
        let mask = u32_at(&sd, ace + 4);
        assert_eq!(mask, 0x0012_00A9, "FRFX");
        assert_eq!(
            mask & 0x0000_0116,
            0,
            "no write, append, write EA or attributes"
        );
        let (who, len) = sid_string(&sd, ace + 8);
        assert_eq!(who, "S-1-1-0", "WD");
        assert_eq!(ace + 8 + len, sd.len());
        assert!(SDDL.contains("FRFX;;;WD") && SDDL.starts_with("O:BAG:BAD:P"));
    }

    #[test]
    fn fill_copies_or_asks_for_more_room() {
        let len = descriptor().len();
        let mut big = vec![0u8; 1024];
        assert_eq!(fill(&mut big), Ok(len as u64));
        assert_eq!(&big[..len], &descriptor()[..]);
        let mut small = vec![0u8; len - 1];
        assert_eq!(fill(&mut small), Err(NtStatus::BUFFER_OVERFLOW));
    }
}
