//! PLACEHOLDER (issue 2/4 fill this in): response-body decoders.
