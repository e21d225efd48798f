//! The simulator's prefix cache: prompt prefixes seen before need no prefill, and are reported
//! as `cached_tokens` (as vLLM's automatic prefix caching does, here by bytes).

/// Prompt prefixes seen, as chained hashes of 64-byte blocks: a request's cached part is its
/// longest run of leading blocks seen before (vLLM's automatic prefix caching, by bytes).
#[derive(Default)]
pub struct PrefixCache {
    blocks: std::collections::HashSet<u64>,
}

impl PrefixCache {
    const BLOCK: usize = 64;
    const MAX_BLOCKS: usize = 1 << 21;

    /// Prompt tokens of `req` served from the cache (its share of the prompt's bytes); then
    /// remember the prompt.
    pub fn cached_tokens(&mut self, req: &super::request::Gen) -> u32 {
        let total = req.prompt_text.len().max(1) as u64;
        let hit = self.lookup_insert(&req.prompt_text) as u64;
        (req.prompt_tokens as u64 * hit / total) as u32
    }

    /// Bytes of `text` served from the cache; then remember all of its blocks.
    pub fn lookup_insert(&mut self, text: &str) -> usize {
        if self.blocks.len() > Self::MAX_BLOCKS {
            self.blocks.clear();
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut hit = 0;
        let mut missed = false;
        for block in text.as_bytes().chunks(Self::BLOCK) {
            if block.len() < Self::BLOCK {
                break; // only full blocks are cached
            }
            for b in block {
                h ^= *b as u64;
                h = h.wrapping_mul(0x100_0000_01b3);
            }
            if !missed && self.blocks.contains(&h) {
                hit += Self::BLOCK;
            } else {
                missed = true;
                self.blocks.insert(h);
            }
        }
        hit
    }
}
