//! The GOPROXY client. (temporary stub; replaced by the real client)
#![allow(missing_docs, dead_code)]
use crate::error::Result;
use crate::modpath::ModuleVersion;
#[derive(Debug, Clone, Copy)]
pub enum ProxyFile { Info, Mod, Zip }
impl ProxyFile { pub fn extension(self) -> &'static str { match self { ProxyFile::Info => "info", ProxyFile::Mod => "mod", ProxyFile::Zip => "zip" } } }
pub struct Upstream;
impl Upstream {
    pub async fn fetch(&self, _m: &ModuleVersion, _f: ProxyFile) -> Result<bytes::Bytes> { Err(crate::Error::Config("stub".into())) }
}
