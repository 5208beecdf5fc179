//! Module zip validation and extraction. (temporary stub)
#![allow(missing_docs, dead_code)]
use crate::error::Result;
use crate::modpath::ModuleVersion;
#[derive(Debug, Clone, Default)]
pub struct Limits;
pub struct ExtractedModule { pub files: Vec<(String, bytes::Bytes)>, pub ziphash: String }
pub fn extract(_m: &ModuleVersion, _zip: &[u8], _l: &Limits) -> Result<ExtractedModule> { Err(crate::Error::Config("stub".into())) }
