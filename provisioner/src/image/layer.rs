//! The image's one layer: the runtime binary, the shared libraries it was linked against, and a
//! CA bundle, as a reproducible gzipped tarball.
//!
//! Reproducible means the same inputs give the same bytes, so an unchanged binary gives the same
//! digest and nothing is pushed again: entries in path order, every mtime 0, owner root, fixed
//! modes, and a gzip header without a timestamp or file name.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::{Compression, GzBuilder};

use crate::error::Error;

/// Where the binary sits in the image; the image's entrypoint.
pub const ENTRYPOINT: &str = "/runtime";
/// Where the CA bundle sits: Debian's path, one that rustls-native-certs probes (and the image
/// also names it in `SSL_CERT_FILE`).
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Name lookups read `/etc/hosts` before asking DNS: glibc's built-in order without this file is
/// DNS first, which makes a lookup wait for a resolver even for a name the hosts file answers.
const NSSWITCH: (&str, &[u8]) = ("/etc/nsswitch.conf", b"hosts: files dns\n");
/// Where hosts keep a CA bundle, for the default `--ca-bundle`.
const SYSTEM_CA_BUNDLES: [&str; 3] =
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

/// One file of the layer, by its path in the image (absolute, `/`-separated).
struct File {
    contents: Vec<u8>,
    mode: u32,
}

/// The layer's files before packing.
pub struct Contents {
    files: BTreeMap<String, File>,
}

impl Contents {
    /// The binary, every shared library `ldd` says it loads (none for a static binary), and the
    /// CA bundle, and the name service order. Lambda mounts `/tmp` writable and injects `/etc/hosts` and `/etc/resolv.conf`
    /// itself, as every container runtime does: the image carries neither.
    pub fn collect(binary: &Path, ca_bundle: Option<&Path>) -> Result<Self, Error> {
        let elf = std::fs::read(binary).map_err(|e| Error::Image(format!("cannot read {}: {e}", binary.display())))?;
        check_x86_64_elf(&elf, binary)?;
        let mut files = BTreeMap::new();
        files.insert(ENTRYPOINT.to_owned(), File { contents: elf, mode: 0o755 });
        let libraries = shared_libraries(binary)?;
        if !libraries.is_empty() {
            check_name_service(&ldd_version()?)?;
        }
        for library in libraries {
            let contents = std::fs::read(&library)
                .map_err(|e| Error::Image(format!("cannot read the library {}: {e}", library.display())))?;
            files.insert(library.to_string_lossy().into_owned(), File { contents, mode: 0o755 });
        }
        let bundle = match ca_bundle {
            Some(path) => path.to_owned(),
            None => SYSTEM_CA_BUNDLES.iter().map(PathBuf::from).find(|p| p.exists()).ok_or_else(|| {
                Error::Image(
                    "no CA certificate bundle on this machine: install ca-certificates or pass --ca-bundle".into(),
                )
            })?,
        };
        let certificates = std::fs::read(&bundle)
            .map_err(|e| Error::Image(format!("cannot read the CA bundle {}: {e}", bundle.display())))?;
        files.insert(CA_BUNDLE.to_owned(), File { contents: certificates, mode: 0o644 });
        files.insert(NSSWITCH.0.to_owned(), File { contents: NSSWITCH.1.to_vec(), mode: 0o644 });
        Ok(Self { files })
    }

    /// Paths in the image, for reporting.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The uncompressed tarball: every parent directory first, then each file, in path order.
    pub fn tar(&self) -> Result<Vec<u8>, Error> {
        let mut directories: BTreeMap<String, u32> = BTreeMap::from([("tmp/".to_owned(), 0o1777)]);
        for path in self.files.keys() {
            let mut parent = Path::new(path.trim_start_matches('/')).parent();
            while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
                directories.insert(format!("{}/", dir.display()), 0o755);
                parent = dir.parent();
            }
        }
        let mut entries: BTreeMap<String, (tar::EntryType, u32, &[u8])> = BTreeMap::new();
        for (dir, mode) in &directories {
            entries.insert(dir.clone(), (tar::EntryType::Directory, *mode, &[]));
        }
        for (path, file) in &self.files {
            entries
                .insert(path.trim_start_matches('/').to_owned(), (tar::EntryType::Regular, file.mode, &file.contents));
        }
        let mut builder = tar::Builder::new(Vec::new());
        for (path, (kind, mode, contents)) in entries {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_size(contents.len() as u64);
            builder
                .append_data(&mut header, &path, contents)
                .map_err(|e| Error::Image(format!("packing {path}: {e}")))?;
        }
        builder.into_inner().map_err(|e| Error::Image(format!("finishing the tarball: {e}")))
    }
}

/// Gzip without a timestamp or file name in its header, at the best compression (the layer is
/// pushed once and pulled at every cold start of a new instance).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzBuilder::new().mtime(0).write(Vec::new(), Compression::best());
    encoder.write_all(data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// Lambda runs this image on x86_64: a binary for anything else would fail at every cold start.
fn check_x86_64_elf(elf: &[u8], path: &Path) -> Result<(), Error> {
    const EM_X86_64: u16 = 62;
    let is_elf = elf.len() > 20 && elf[..4] == *b"\x7fELF" && elf[4] == 2 && elf[5] == 1;
    if is_elf && u16::from_le_bytes([elf[18], elf[19]]) == EM_X86_64 {
        Ok(())
    } else {
        Err(Error::Image(format!("{} is not a 64-bit x86_64 Linux executable", path.display())))
    }
}

/// The libraries the dynamic loader maps for `binary`, as `ldd` resolves them on this machine
/// (the loader itself included): exactly the files the binary was linked and tested against.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, Error> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| Error::Image(format!("cannot run ldd to list the binary's shared libraries: {e}")))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // A static binary: glibc's ldd says "not a dynamic executable" and exits 1.
        let said = format!("{text}{}", String::from_utf8_lossy(&output.stderr));
        return if said.contains("not a dynamic executable") || said.contains("statically linked") {
            Ok(Vec::new())
        } else {
            Err(Error::Image(format!("ldd {} failed: {}", binary.display(), said.trim())))
        };
    }
    parse_ldd(&text)
}

/// What `ldd --version` says: the host's C library, which `ldd` resolved the binary's against.
fn ldd_version() -> Result<String, Error> {
    let output = Command::new("ldd")
        .arg("--version")
        .output()
        .map_err(|e| Error::Image(format!("cannot run ldd --version: {e}")))?;
    Ok(format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

/// The glibc version `ldd --version` names on its first line (`ldd (Debian GLIBC 2.36-9) 2.36`),
/// if it is glibc's `ldd` at all.
fn glibc_version(ldd_version: &str) -> Option<(u32, u32)> {
    let first = ldd_version.lines().next()?;
    if !(first.contains("GLIBC") || first.contains("GNU libc")) {
        return None;
    }
    let (major, minor) = first.rsplit(' ').next()?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Whether the image can resolve host names with the host's glibc. Before 2.34 glibc loads its
/// name service modules (`libnss_files`, `libnss_dns`) with `dlopen` at run time, so `ldd` does
/// not list them and the image would have none: every DynamoDB and Secrets Manager host name
/// would fail to resolve. From 2.34 both are inside `libc.so.6` (glibc 2.34 release notes).
/// Other C libraries (musl) resolve names without modules.
fn check_name_service(ldd_version: &str) -> Result<(), Error> {
    match glibc_version(ldd_version) {
        Some(version) if version < (2, 34) => Err(Error::Image(format!(
            "this machine's glibc is {}.{}: before 2.34 it loads its name service modules at run time, which \
             ldd does not list, so the image could not resolve host names; build the image on a machine with \
             glibc 2.34 or later (Debian 12, Ubuntu 22.04, Amazon Linux 2023)",
            version.0, version.1
        ))),
        _ => Ok(()),
    }
}

fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, Error> {
    let mut libraries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.contains("statically linked") {
            continue;
        }
        if line.contains("=> not found") {
            return Err(Error::Image(format!("a shared library of the binary is missing on this machine: {line}")));
        }
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)`, or the loader: `/lib64/ld-linux-x86-64.so.2 (0x…)`;
        // the vDSO (`linux-vdso.so.1 (0x…)`) is the kernel's and has no file.
        let path = line.split_once("=> ").map_or(line, |(_, resolved)| resolved);
        let path = path.split(" (").next().unwrap_or_default();
        if path.starts_with('/') {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_every_library_and_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f2b)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2b)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f2b)\n";
        let paths = parse_ldd(text).unwrap();
        let expected =
            ["/lib/x86_64-linux-gnu/libgcc_s.so.1", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"];
        assert_eq!(paths, expected.map(PathBuf::from));
        assert!(parse_ldd("\tlibfoo.so.1 => not found\n").is_err());
        assert_eq!(parse_ldd("\tstatically linked\n").unwrap(), Vec::<PathBuf>::new());
    }

    #[test]
    fn images_are_refused_on_a_glibc_whose_name_service_ldd_cannot_see() {
        let debian = "ldd (Debian GLIBC 2.36-9+deb12u14) 2.36\nCopyright (C) 2022 Free Software Foundation, Inc.\n";
        assert_eq!(glibc_version(debian), Some((2, 36)));
        assert!(check_name_service(debian).is_ok());
        assert!(check_name_service("ldd (Ubuntu GLIBC 2.35-0ubuntu3.8) 2.35\n").is_ok());
        assert!(check_name_service("ldd (GNU libc) 2.34\n").is_ok());
        let old = "ldd (Ubuntu GLIBC 2.31-0ubuntu9.16) 2.31\n";
        assert_eq!(glibc_version(old), Some((2, 31)));
        let refused = check_name_service(old).unwrap_err().to_string();
        assert!(refused.contains("glibc is 2.31") && refused.contains("2.34 or later"), "{refused}");
        assert!(check_name_service("ldd (GNU libc) 2.17\n").is_err(), "Amazon Linux 2");
        assert_eq!(glibc_version("musl libc (x86_64)\nVersion 1.2.4\n"), None);
        assert!(check_name_service("musl libc (x86_64)\nVersion 1.2.4\n").is_ok());
    }

    #[test]
    fn the_layer_is_reproducible_and_lists_directories_first() {
        let contents = || Contents {
            files: BTreeMap::from([
                ("/runtime".to_owned(), File { contents: b"\x7fELF binary".to_vec(), mode: 0o755 }),
                (CA_BUNDLE.to_owned(), File { contents: b"-----BEGIN CERTIFICATE-----".to_vec(), mode: 0o644 }),
            ]),
        };
        let (first, second) = (gzip(&contents().tar().unwrap()), gzip(&contents().tar().unwrap()));
        assert_eq!(first, second);

        let tar = contents().tar().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (e.path().unwrap().display().to_string(), h.mode().unwrap(), h.mtime().unwrap() + h.uid().unwrap())
            })
            .collect();
        let paths: Vec<&str> = entries.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["etc/", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt", "runtime", "tmp/"]
        );
        assert!(entries.iter().all(|(_, _, time_and_owner)| *time_and_owner == 0));
        assert_eq!(entries.iter().find(|(p, _, _)| p == "tmp/").unwrap().1, 0o1777);
    }

    #[test]
    fn only_x86_64_elf_executables_are_accepted() {
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[18] = 62;
        assert!(check_x86_64_elf(&elf, Path::new("x")).is_ok());
        elf[18] = 183; // aarch64
        assert!(check_x86_64_elf(&elf, Path::new("x")).is_err());
        assert!(check_x86_64_elf(b"#!/bin/sh\n", Path::new("x")).is_err());
    }
}
