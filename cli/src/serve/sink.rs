//! Where scored lines go besides the response: nowhere by default, or Elasticsearch with the
//! `elasticsearch` feature and `ES_URL` set (see [`super::es`]).

use logsentinel::Detection;

/// A cheap, cloneable handle to the optional sink. Offering never blocks and never fails a request.
#[derive(Clone, Default)]
pub struct Sink {
    #[cfg(feature = "elasticsearch")]
    es: Option<super::es::EsHandle>,
}

impl Sink {
    /// A sink that drops everything.
    pub fn none() -> Self {
        Self::default()
    }

    /// A sink feeding Elasticsearch.
    #[cfg(feature = "elasticsearch")]
    pub fn elasticsearch(handle: super::es::EsHandle) -> Self {
        Self { es: Some(handle) }
    }

    /// Whether anything is listening (so callers can skip copying lines when not).
    pub fn enabled(&self) -> bool {
        #[cfg(feature = "elasticsearch")]
        {
            self.es.is_some()
        }
        #[cfg(not(feature = "elasticsearch"))]
        {
            false
        }
    }

    /// Offers scored lines (`lines[i]` scored as `detections[i]`). Called on the blocking pool.
    pub fn offer<'a>(&self, lines: impl Iterator<Item = &'a str>, detections: &[Detection]) {
        #[cfg(feature = "elasticsearch")]
        if let Some(es) = &self.es {
            es.offer(lines, detections);
        }
        #[cfg(not(feature = "elasticsearch"))]
        let _ = (lines, detections);
    }
}
