//! PLACEHOLDER (issue 2 fills this in): protobuf wire primitives.
