//! The Windows glue: WinFsp's `FileSystemContext` over [`Volume`], and
//! mounting. Nothing here decides anything: each callback converts
//! WinFsp's types to a [`Volume`] call and back; every write-like callback
//! answers `STATUS_MEDIA_WRITE_PROTECTED`.

use crate::WinfspError;
use crate::enumerate::DirSink;
use crate::facts::{ALLOCATION_UNIT, FileFacts, filetime};
use crate::mountpoint::MountPoint;
use crate::names::MAX_COMPONENT;
use crate::security;
use crate::status::NtStatus;
use crate::volume::{Handle, Volume};
use gomodfs_core::{ErrorKind, ModFs};
use std::ffi::c_void;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use winfsp::filesystem::{
    DirInfo, DirMarker, FileInfo, FileSecurity, FileSystemContext, ModificationDescriptor,
    OpenFileInfo, VolumeInfo, WideNameInfo,
};
use winfsp::host::{FileSystemHost, VolumeParams};
use winfsp::{FspError, U16CStr};

/// How long WinFsp may cache what it learned about a node, in
/// milliseconds: directories outside module trees grow, so not long.
const FILE_INFO_TIMEOUT_MS: u32 = 1000;

/// Dispatcher threads: a request that waits for a download holds one, so
/// there are enough for stored modules to be served meanwhile.
const DISPATCHER_THREADS: u32 = 32;

/// How long Windows lets one request take, in milliseconds: WinFsp's
/// maximum (10 minutes), longer than a download's worst case with retries.
const IRP_TIMEOUT_MS: u32 = 600_000;

/// The volume's label and file system name.
const NAME: &str = "gomodfs";

/// What to do when WinFsp cannot be loaded.
const INSTALL_HINT: &str = "; install WinFsp (https://winfsp.dev/rel/) and try again";

/// The WinFsp file system: the volume's operations.
struct GomodFs {
    volume: Volume,
}

fn fsp(status: NtStatus) -> FspError {
    FspError::NTSTATUS(status.0)
}

fn write_protected() -> FspError {
    fsp(crate::status::ntstatus(ErrorKind::ReadOnly))
}

fn copy_facts(facts: &FileFacts, info: &mut FileInfo) {
    *info = FileInfo {
        file_attributes: facts.attributes,
        reparse_tag: 0,
        allocation_size: facts.allocation_size,
        file_size: facts.file_size,
        creation_time: facts.time,
        last_access_time: facts.time,
        last_write_time: facts.time,
        change_time: facts.time,
        index_number: facts.index_number,
        hard_links: 0,
        ea_size: 0,
    };
}

/// WinFsp's security descriptor buffer as bytes.
fn bytes_of(buffer: &mut [c_void]) -> &mut [u8] {
    // SAFETY: `c_void` is one byte; the slice is WinFsp's buffer of
    // `buffer.len()` bytes, borrowed mutably for the callback's duration.
    #[allow(unsafe_code)]
    unsafe {
        std::slice::from_raw_parts_mut(buffer.as_mut_ptr().cast::<u8>(), buffer.len())
    }
}

/// The security descriptor into WinFsp's buffer, or just its length.
fn descriptor_into(buffer: Option<&mut [c_void]>) -> winfsp::Result<u64> {
    match buffer {
        Some(buffer) => security::fill(bytes_of(buffer)).map_err(fsp),
        None => Ok(security::descriptor().len() as u64),
    }
}

/// WinFsp's directory buffer as a [`DirSink`].
struct WinFspBuffer<'a> {
    buffer: &'a mut [u8],
    cursor: u32,
    entry: DirInfo<MAX_COMPONENT>,
}

impl DirSink for WinFspBuffer<'_> {
    fn add(&mut self, name: &[u16], facts: &FileFacts) -> bool {
        self.entry.reset();
        copy_facts(facts, self.entry.file_info_mut());
        if self.entry.set_name_raw(name).is_err() {
            // Not reached: names are checked against MAX_COMPONENT.
            tracing::debug!("a directory entry's name does not fit WinFsp's entry");
            return true;
        }
        self.entry.append_to_buffer(self.buffer, &mut self.cursor)
    }

    fn end(&mut self) -> bool {
        DirInfo::<MAX_COMPONENT>::finalize_buffer(self.buffer, &mut self.cursor)
    }
}

impl FileSystemContext for GomodFs {
    type FileContext = Handle;

    fn get_security_by_name(
        &self,
        file_name: &U16CStr,
        security_descriptor: Option<&mut [c_void]>,
        _reparse_point_resolver: impl FnOnce(&U16CStr) -> Option<FileSecurity>,
    ) -> winfsp::Result<FileSecurity> {
        let attributes = self.volume.attributes(file_name.as_slice()).map_err(fsp)?;
        Ok(FileSecurity {
            reparse: false,
            sz_security_descriptor: descriptor_into(security_descriptor)?,
            attributes,
        })
    }

    fn open(
        &self,
        file_name: &U16CStr,
        _create_options: u32,
        _granted_access: u32,
        file_info: &mut OpenFileInfo,
    ) -> winfsp::Result<Handle> {
        let handle = self.volume.open(file_name.as_slice()).map_err(fsp)?;
        copy_facts(handle.facts(), file_info.as_mut());
        Ok(handle)
    }

    fn close(&self, context: Handle) {
        self.volume.close(context);
    }

    fn get_file_info(&self, context: &Handle, file_info: &mut FileInfo) -> winfsp::Result<()> {
        let facts = self.volume.file_info(context).map_err(fsp)?;
        copy_facts(&facts, file_info);
        Ok(())
    }

    fn get_security(
        &self,
        _context: &Handle,
        security_descriptor: Option<&mut [c_void]>,
    ) -> winfsp::Result<u64> {
        descriptor_into(security_descriptor)
    }

    fn read(&self, context: &Handle, buffer: &mut [u8], offset: u64) -> winfsp::Result<u32> {
        self.volume.read(context, buffer, offset).map_err(fsp)
    }

    fn read_directory(
        &self,
        context: &Handle,
        _pattern: Option<&U16CStr>,
        marker: DirMarker,
        buffer: &mut [u8],
    ) -> winfsp::Result<u32> {
        let mut sink = WinFspBuffer {
            buffer,
            cursor: 0,
            entry: DirInfo::new(),
        };
        self.volume
            .read_directory(context, marker.inner(), &mut sink)
            .map_err(fsp)?;
        Ok(sink.cursor)
    }

    fn get_volume_info(&self, out_volume_info: &mut VolumeInfo) -> winfsp::Result<()> {
        out_volume_info.total_size = 0;
        out_volume_info.free_size = 0;
        out_volume_info.set_volume_label(NAME);
        Ok(())
    }

    fn flush(&self, context: Option<&Handle>, file_info: &mut FileInfo) -> winfsp::Result<()> {
        // Nothing is ever written: flushing is done at once.
        if let Some(context) = context {
            self.get_file_info(context, file_info)?;
        }
        Ok(())
    }

    fn create(
        &self,
        _file_name: &U16CStr,
        _create_options: u32,
        _granted_access: u32,
        _file_attributes: u32,
        _security_descriptor: Option<&[c_void]>,
        _allocation_size: u64,
        _extra_buffer: Option<&[u8]>,
        _extra_buffer_is_reparse_point: bool,
        _file_info: &mut OpenFileInfo,
    ) -> winfsp::Result<Handle> {
        Err(write_protected())
    }

    fn overwrite(
        &self,
        _context: &Handle,
        _file_attributes: u32,
        _replace_file_attributes: bool,
        _allocation_size: u64,
        _extra_buffer: Option<&[u8]>,
        _file_info: &mut FileInfo,
    ) -> winfsp::Result<()> {
        Err(write_protected())
    }

    fn write(
        &self,
        _context: &Handle,
        _buffer: &[u8],
        _offset: u64,
        _write_to_eof: bool,
        _constrained_io: bool,
        _file_info: &mut FileInfo,
    ) -> winfsp::Result<u32> {
        Err(write_protected())
    }

    fn rename(
        &self,
        _context: &Handle,
        _file_name: &U16CStr,
        _new_file_name: &U16CStr,
        _replace_if_exists: bool,
    ) -> winfsp::Result<()> {
        Err(write_protected())
    }

    fn set_basic_info(
        &self,
        _context: &Handle,
        _file_attributes: u32,
        _creation_time: u64,
        _last_access_time: u64,
        _last_write_time: u64,
        _last_change_time: u64,
        _file_info: &mut FileInfo,
    ) -> winfsp::Result<()> {
        Err(write_protected())
    }

    fn set_delete(
        &self,
        _context: &Handle,
        _file_name: &U16CStr,
        _delete_file: bool,
    ) -> winfsp::Result<()> {
        Err(write_protected())
    }

    fn set_file_size(
        &self,
        _context: &Handle,
        _new_size: u64,
        _set_allocation_size: bool,
        _file_info: &mut FileInfo,
    ) -> winfsp::Result<()> {
        Err(write_protected())
    }

    fn set_security(
        &self,
        _context: &Handle,
        _security_information: u32,
        _modification_descriptor: ModificationDescriptor,
    ) -> winfsp::Result<()> {
        Err(write_protected())
    }

    fn set_volume_label(
        &self,
        _volume_label: &U16CStr,
        _volume_info: &mut VolumeInfo,
    ) -> winfsp::Result<()> {
        Err(write_protected())
    }

    fn set_reparse_point(
        &self,
        _context: &Handle,
        _file_name: &U16CStr,
        _buffer: &[u8],
    ) -> winfsp::Result<()> {
        Err(write_protected())
    }

    fn delete_reparse_point(
        &self,
        _context: &Handle,
        _file_name: &U16CStr,
        _buffer: &[u8],
    ) -> winfsp::Result<()> {
        Err(write_protected())
    }

    fn set_extended_attributes(
        &self,
        _context: &Handle,
        _buffer: &[u8],
        _file_info: &mut FileInfo,
    ) -> winfsp::Result<()> {
        Err(write_protected())
    }
}

/// A mounted volume; [`Mounted::unmount`] (or dropping it) unmounts.
pub struct Mounted {
    host: FileSystemHost<GomodFs>,
    point: MountPoint,
    /// What the status reports about this mount, while it lives.
    _status: Arc<gomodfs_core::stats::FrontendStatus>,
}

impl Mounted {
    /// Where the volume is mounted, as asked.
    pub fn mount_point(&self) -> &MountPoint {
        &self.point
    }

    /// Stops serving and removes the mount point.
    pub fn unmount(self) {
        drop(self.host);
    }
}

/// The volume's parameters: read-only, case-sensitive, Unicode, with ACLs
/// (the one [`security`] descriptor), 4 KiB allocation units.
fn volume_params() -> VolumeParams {
    let unit = ALLOCATION_UNIT as u16;
    let mut params = VolumeParams::new();
    params
        .filesystem_name(NAME)
        .sector_size(unit)
        .sectors_per_allocation_unit(1)
        .max_component_length(MAX_COMPONENT as u16)
        .volume_creation_time(filetime(UNIX_EPOCH + Duration::from_secs(1_567_036_800)))
        .volume_serial_number(0x676f_6d66)
        .file_info_timeout(FILE_INFO_TIMEOUT_MS)
        .irp_timeout(IRP_TIMEOUT_MS)
        .case_sensitive_search(true)
        .case_preserved_names(true)
        .unicode_on_disk(true)
        .persistent_acls(true)
        .read_only_volume(true)
        .post_cleanup_when_modified_only(true);
    params
}

/// The error for a refused step of mounting.
fn host_error<E: std::fmt::Display>(
    step: &'static str,
    hint: &'static str,
) -> impl FnOnce(E) -> WinfspError {
    move |e| WinfspError::Host {
        step,
        detail: e.to_string(),
        hint,
    }
}

/// Mounts `fs` at `point` and starts serving; the volume stays until the
/// returned [`Mounted`] is unmounted or dropped.
pub fn mount(fs: Arc<ModFs>, point: &MountPoint) -> Result<Mounted, WinfspError> {
    point.check()?;
    winfsp::winfsp_init().map_err(|e| WinfspError::Host {
        step: "loading the WinFsp DLL",
        detail: format!("{e:?}"),
        hint: INSTALL_HINT,
    })?;
    let status = fs
        .stats()
        .add_frontend(gomodfs_core::stats::FrontendStatus {
            kind: "winfsp".into(),
            at: point.to_string(),
            transport: None,
        });
    let context = GomodFs {
        volume: Volume::new(fs),
    };
    let mut host: FileSystemHost<GomodFs> = FileSystemHost::new(volume_params(), context)
        .map_err(host_error("creating the volume", INSTALL_HINT))?;
    let mounted = match point.winfsp_arg() {
        Some(arg) => host.mount(arg),
        None => host.mount(winfsp::host::MountPoint::NextFreeDrive),
    };
    mounted.map_err(host_error(
        "setting the mount point",
        "; is the drive letter in use, or the directory there already?",
    ))?;
    host.start_with_threads(DISPATCHER_THREADS)
        .map_err(host_error("starting the dispatcher", ""))?;
    tracing::info!(mount_point = %point, "mounted through WinFsp");
    Ok(Mounted {
        host,
        point: point.clone(),
        _status: status,
    })
}
