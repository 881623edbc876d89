//! The teacher's global template vocabulary: templates of all projects keyed by their normalised text,
//! so teacher and students share one id space (a project maps its local ids onto it).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::transformer::{word_pieces, FIRST_TEMPLATE_TOKEN, UNK};

/// Global template vocabulary. Token of entry `i` is `FIRST_TEMPLATE_TOKEN + i`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GlobalVocab {
    texts: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

/// Most templates the global vocabulary holds; beyond it new templates map to UNK.
pub const MAX_GLOBAL_TEMPLATES: usize = 50_000;

/// The key under which a template is shared across projects: whitespace collapsed.
pub fn normalize_template(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl GlobalVocab {
    /// Rebuilds the lookup index after deserialisation.
    pub fn reindex(&mut self) {
        self.index = self
            .texts
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), FIRST_TEMPLATE_TOKEN + i as u32))
            .collect();
    }

    /// Token of a template text, if known.
    pub fn token_of(&self, text: &str) -> Option<u32> {
        self.index.get(&normalize_template(text)).copied()
    }

    /// Token of a template text, adding it when new (UNK when the vocabulary is full).
    pub fn insert(&mut self, text: &str) -> u32 {
        let key = normalize_template(text);
        if let Some(&t) = self.index.get(&key) {
            return t;
        }
        if self.texts.len() >= MAX_GLOBAL_TEMPLATES {
            return UNK;
        }
        let token = FIRST_TEMPLATE_TOKEN + self.texts.len() as u32;
        self.texts.push(key.clone());
        self.index.insert(key, token);
        token
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether no template is known.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Number of tokens (specials included): the model vocabulary size covering every template.
    pub fn token_count(&self) -> usize {
        FIRST_TEMPLATE_TOKEN as usize + self.texts.len()
    }

    /// Template text of a token.
    pub fn text(&self, token: u32) -> Option<&str> {
        token
            .checked_sub(FIRST_TEMPLATE_TOKEN)
            .and_then(|i| self.texts.get(i as usize))
            .map(String::as_str)
    }

    /// Word pieces of every token (empty for the special tokens), for models that embed by words.
    pub fn token_words(&self, buckets: usize) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); FIRST_TEMPLATE_TOKEN as usize];
        out.extend(self.texts.iter().map(|t| word_pieces(t, buckets)));
        out
    }

    /// The first `n` templates (for display).
    pub fn sample(&self, n: usize) -> Vec<String> {
        self.texts.iter().take(n).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_shared_by_normalised_text() {
        let mut v = GlobalVocab::default();
        let a = v.insert("Receiving block <*>  src: <*>");
        assert_eq!(a, FIRST_TEMPLATE_TOKEN);
        assert_eq!(v.insert("Receiving block <*> src: <*>"), a);
        let b = v.insert("Deleting block <*>");
        assert_eq!(b, a + 1);
        let json = serde_json::to_string(&v).unwrap();
        let mut back: GlobalVocab = serde_json::from_str(&json).unwrap();
        back.reindex();
        assert_eq!(back.token_of("Deleting block <*>"), Some(b));
        assert_eq!(back.text(a), Some("Receiving block <*> src: <*>"));
        assert_eq!(back.token_count(), FIRST_TEMPLATE_TOKEN as usize + 2);
        assert_eq!(back.token_words(64).len(), back.token_count());
    }
}
