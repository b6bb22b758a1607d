package proxy

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// frame is one gRPC message as raw protobuf bytes: the proxy forwards
// messages without decoding them (see statusOf for the one field it reads).
type frame struct{ b []byte }

// rawCodec is a pass-through encoding.CodecV2 for *frame. The proxy's
// server is forced to it (every request arrives as a frame) and so is every
// call to a node (the node sees an ordinary application/grpc+proto call).
type rawCodec struct{}

var _ encoding.CodecV2 = rawCodec{}

// Marshal returns the frame's bytes.
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*frame)
	if !ok {
		return nil, fmt.Errorf("proxy: raw codec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(f.b)}, nil
}

// Unmarshal copies the message bytes into the frame (gRPC recycles data).
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return fmt.Errorf("proxy: raw codec: cannot unmarshal into %T", v)
	}
	f.b = data.Materialize()
	return nil
}

// Name is the content subtype of calls to nodes ("application/grpc+proto"):
// the bytes are protobuf, so the node decodes them with its proto codec.
func (rawCodec) Name() string { return "proto" }
