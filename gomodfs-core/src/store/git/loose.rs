//! Packing loose objects during compaction.
//!
//! `put_meta` stores a `.info` or `.mod` alone as a loose object
//! (`objects/xx/yyyy…`), and a fresh process pays an open, a read and an
//! inflate of its own file to read one (20-100 us against 2-3 us from a
//! pack, docs/BENCHMARKS.md). The module's pack takes its loose blobs too
//! when its zip is stored, but the `.mod`s of modules whose zip never is
//! (go reads them for the module graph), and the loose copies in stores
//! filled before that, stayed loose for good; gc did not see them either.
//! So compaction packs them: every loose object is read, checked (it
//! inflates to `<kind> <size>\0<data>` hashing to its name), written into
//! one new pack made durable, and only then is its file deleted, so every
//! object stays findable all the time (gix looks in packs first and
//! re-reads the pack directory on a miss). A damaged or foreign file (a
//! commit, a tag, an unreadable object) is left alone.
//!
//! Runs under the compaction lock, which gc holds too.

use super::layout::{self, Layout};
use super::pack::{Kind, Object, PackWriter};
use flate2::read::ZlibDecoder;
use gix_hash::ObjectId;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The most bytes of contents one compaction packs; the rest waits for the
/// next (loose objects are small `.info` and `.mod` files; this bounds the
/// memory a store full of large foreign ones would take).
const MAX_BYTES: u64 = 64 << 20;

/// A loose object's file and the id its name gives.
#[derive(Debug)]
struct LooseFile {
    path: PathBuf,
    id: ObjectId,
}

/// The loose object files in `objects_dir` (`xx/` fan-out directories of
/// 38-hex-digit names); files being written and anything else are not.
fn list(objects_dir: &Path) -> io::Result<Vec<LooseFile>> {
    let mut out = Vec::new();
    for fan in fs::read_dir(objects_dir)? {
        let fan = fan?;
        let fan_name = fan.file_name();
        let Some(prefix) = fan_name.to_str().filter(|n| is_hex(n, 2)) else {
            continue;
        };
        if !fan.file_type()?.is_dir() {
            continue;
        }
        for entry in fs::read_dir(fan.path())? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(rest) = name.to_str().filter(|n| is_hex(n, 38)) else {
                continue;
            };
            if !entry.file_type()?.is_file() {
                continue;
            }
            if let Ok(id) = ObjectId::from_hex(format!("{prefix}{rest}").as_bytes()) {
                out.push(LooseFile {
                    path: entry.path(),
                    id,
                });
            }
        }
    }
    out.sort_by_key(|f| f.id);
    Ok(out)
}

/// Whether `s` is `len` lowercase hex digits.
fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads the loose object `file`: a blob or tree whose contents hash to
/// its name, `None` if its contents are larger than `max` bytes, or an
/// error saying what is wrong with it.
fn read(file: &LooseFile, max: u64) -> io::Result<Option<Object>> {
    let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let mut raw = Vec::new();
    ZlibDecoder::new(fs::File::open(&file.path)?)
        .take(max.saturating_add(64))
        .read_to_end(&mut raw)?;
    let nul = raw
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| bad("no object header".into()))?;
    let header = std::str::from_utf8(&raw[..nul]).map_err(|_| bad("bad header".into()))?;
    let (kind, size) = header
        .split_once(' ')
        .ok_or_else(|| bad(format!("bad header {header:?}")))?;
    let kind = match kind {
        "blob" => Kind::Blob,
        "tree" => Kind::Tree,
        other => return Err(bad(format!("a {other}, not a blob or tree"))),
    };
    let size: u64 = size
        .parse()
        .map_err(|_| bad(format!("bad size in header {header:?}")))?;
    if size > max {
        return Ok(None);
    }
    let data = raw.split_off(nul + 1);
    if data.len() as u64 != size {
        return Err(bad(format!(
            "{} bytes of contents, the header says {size}",
            data.len()
        )));
    }
    let obj = Object::new(kind, data.into());
    if obj.id != file.id {
        return Err(bad(format!("contents hash to {}", obj.id)));
    }
    Ok(Some(obj))
}

/// Packs the loose objects of the store at `layout` (up to [`MAX_BYTES`]
/// of contents) into one new pack, durably, then deletes their files.
/// Returns how many were packed. The caller holds the compaction lock.
pub(crate) fn pack_loose(layout: &Layout) -> io::Result<usize> {
    let files = list(&layout.objects)?;
    let mut objects = Vec::new();
    let mut packed_files = Vec::new();
    let mut bytes = 0u64;
    for file in files {
        if bytes >= MAX_BYTES {
            break;
        }
        match read(&file, MAX_BYTES - bytes) {
            // Waits for the next compaction.
            Ok(None) => {}
            Ok(Some(obj)) => {
                bytes += obj.data.len() as u64;
                objects.push(obj);
                packed_files.push(file.path);
            }
            // Deleted meanwhile (by another compaction, or git).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(
                    object = %file.path.display(),
                    cause = %e,
                    "loose object is damaged or not ours: leaving it alone"
                );
            }
        }
    }
    if objects.is_empty() {
        return Ok(0);
    }
    let refs: Vec<&Object> = objects.iter().collect();
    let mut writer = PackWriter::create(&layout.pack, refs.len())?;
    writer.add_objects(&refs)?;
    let written = writer.finish()?;
    tracing::debug!(pack = %written.pack.display(), objects = written.objects, "packed loose objects");
    for path in &packed_files {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(object = %path.display(), error = %e, "cannot delete a packed loose object")
            }
        }
    }
    // A deletion lost in a crash leaves a harmless duplicate.
    let fans: std::collections::BTreeSet<&Path> =
        packed_files.iter().filter_map(|p| p.parent()).collect();
    let removed = layout::remove_empty_dirs(fans);
    tracing::debug!(removed, "removed emptied fan-out directories");
    Ok(objects.len())
}

#[cfg(test)]
mod tests {
    use super::super::pack;
    use super::*;

    #[test]
    fn only_loose_object_names_are_listed() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let objects = tmp.path();
        let obj = Object::new(Kind::Blob, b"hello".to_vec().into());
        pack::write_loose(objects, &obj).unwrap_or_else(|e| panic!("{e}"));
        let (dir, name) = pack::loose_place(objects, &obj.id);
        fs::write(dir.join(format!("{name}.lock")), b"x").unwrap_or_else(|e| panic!("{e}"));
        fs::write(dir.join("short"), b"x").unwrap_or_else(|e| panic!("{e}"));
        fs::create_dir_all(objects.join("pack")).unwrap_or_else(|e| panic!("{e}"));
        fs::create_dir_all(objects.join("info")).unwrap_or_else(|e| panic!("{e}"));
        let found = list(objects).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].id, obj.id);
        let back = read(&found[0], MAX_BYTES).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.map(|o| o.data.to_vec()), Some(b"hello".to_vec()));
        let later = read(&found[0], 4).unwrap_or_else(|e| panic!("{e}"));
        assert!(later.is_none(), "larger than the room left");
    }

    #[test]
    fn packing_removes_the_emptied_fan_out_directories_and_writers_make_them_again() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let layout = Layout::new(tmp.path());
        fs::create_dir_all(&layout.pack).unwrap_or_else(|e| panic!("{e}"));
        let objs: Vec<Object> = (0..20u8)
            .map(|i| Object::new(Kind::Blob, vec![i; 3].into()))
            .collect();
        for obj in &objs {
            pack::write_loose(&layout.objects, obj).unwrap_or_else(|e| panic!("{e}"));
        }
        // A fan-out directory that holds something else stays.
        let (kept, _) = pack::loose_place(&layout.objects, &objs[0].id);
        fs::write(kept.join("not-an-object"), b"x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pack_loose(&layout).unwrap_or_else(|e| panic!("{e}")), 20);
        let fans: Vec<String> = fs::read_dir(&layout.objects)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_hex(n, 2))
            .collect();
        assert_eq!(
            fans,
            [kept
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()]
        );
        // The next loose write makes its directory again.
        let obj = &objs[1];
        pack::write_loose(&layout.objects, obj).unwrap_or_else(|e| panic!("{e}"));
        let (dir, name) = pack::loose_place(&layout.objects, &obj.id);
        assert!(dir.join(name).is_file());
    }

    #[test]
    fn a_temp_file_is_persisted_into_a_directory_removed_meanwhile() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path().join("ab");
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        let (file, _) =
            layout::TempFile::create(tmp.path(), "t-").unwrap_or_else(|e| panic!("{e}"));
        // Removed between the writer's mkdir and its rename (a compaction).
        assert_eq!(layout::remove_empty_dirs([dir.as_path()]), 1);
        file.persist_in(&dir, "cd")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(dir.join("cd").is_file());
        assert_eq!(layout::remove_empty_dirs([dir.as_path()]), 0, "not empty");
    }

    #[test]
    fn a_loose_file_that_does_not_hash_to_its_name_is_refused() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let objects = tmp.path();
        let real = Object::new(Kind::Blob, b"real".to_vec().into());
        let other = Object::new(Kind::Blob, b"other".to_vec().into());
        pack::write_loose(objects, &other).unwrap_or_else(|e| panic!("{e}"));
        let (odir, oname) = pack::loose_place(objects, &other.id);
        let (rdir, rname) = pack::loose_place(objects, &real.id);
        fs::create_dir_all(&rdir).unwrap_or_else(|e| panic!("{e}"));
        fs::rename(odir.join(oname), rdir.join(&rname)).unwrap_or_else(|e| panic!("{e}"));
        let file = LooseFile {
            path: rdir.join(rname),
            id: real.id,
        };
        let e = read(&file, MAX_BYTES).expect_err("wrong contents");
        assert!(e.to_string().contains("hash to"), "{e}");
        // Not zlib at all.
        fs::write(&file.path, b"plain text").unwrap_or_else(|e| panic!("{e}"));
        assert!(read(&file, MAX_BYTES).is_err());
    }
}
