//! Open-file limit: every connection is a descriptor, and `accept` failing with EMFILE locks out
//! every client, not only the one that used the last descriptor.

/// Descriptors kept for everything that is not a client connection: the store's files, the
/// listener, standard streams, the AWS SDK's sockets, logs.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Raises the soft open-file limit to the hard one and returns the connection cap that fits
/// under it: at most `wanted`.
pub fn connection_cap(wanted: usize) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-file limit; keeping the current one");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    };
    let fits = usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS).max(1)).unwrap_or(usize::MAX);
    if fits < wanted {
        tracing::warn!(
            wanted,
            open_file_limit = limit,
            cap = fits,
            "max_connections lowered to fit the open-file limit"
        );
    }
    wanted.min(fits)
}
