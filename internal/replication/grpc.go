package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// Service and method names on the peer port.
const (
	serviceName = "tandem.replication.Replication"
	streamName  = "Stream"
	streamPath  = "/" + serviceName + "/" + streamName
)

// codecName is the gRPC codec of the replication stream (content type
// application/grpc+tandem-frame): a message is one wire frame as is.
const codecName = "tandem-frame"

// maxFrameBytes bounds a received frame: a Records frame holds at least
// one whole record, however large (the gRPC default of 4 MiB would stop
// a stream at the first larger record).
const maxFrameBytes = math.MaxInt32

func init() { encoding.RegisterCodecV2(frameCodec{}) }

// frameCodec is the replication stream's gRPC codec: no protobuf
// wrapping, a message is the frame's bytes. Marshal hands gRPC the
// frame's pieces without copying them (*wireFrame); Unmarshal gathers the
// received bytes into one fresh slice (*rawFrame) that the decoded frame
// then aliases.
type frameCodec struct{}

func (frameCodec) Name() string { return codecName }

func (frameCodec) Marshal(v any) (mem.BufferSlice, error) {
	w, ok := v.(*wireFrame)
	if !ok {
		return nil, fmt.Errorf("replication: cannot marshal %T", v)
	}
	out := make(mem.BufferSlice, 0, len(w.parts))
	for _, p := range w.parts {
		if len(p) > 0 {
			out = append(out, mem.SliceBuffer(p))
		}
	}
	return out, nil
}

func (frameCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawFrame)
	if !ok {
		return fmt.Errorf("replication: cannot unmarshal into %T", v)
	}
	// One copy into a fresh slice (bytes.Join does not zero it first).
	parts := make([][]byte, len(data))
	for i, d := range data {
		parts[i] = d.ReadOnlyData()
	}
	m.b = bytes.Join(parts, nil)
	return nil
}

// rawFrame receives one frame's bytes.
type rawFrame struct{ b []byte }

// serviceDesc is the hand-written descriptor of the replication service:
// one bidirectional stream of wire frames (frameCodec).
var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*streamServer)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    streamName,
		Handler:       streamHandler,
		ServerStreams: true,
		ClientStreams: true,
	}},
	Metadata: "internal/replication/doc.go",
}

// streamServer serves one replication stream (the Sender; fakes in tests).
type streamServer interface {
	serve(c conn) error
}

func streamHandler(srv any, ss grpc.ServerStream) error {
	return srv.(streamServer).serve(&serverConn{ss: ss})
}

// conn is one end of a replication stream carrying frames.
type conn interface {
	send(f *frame) error
	// sendWire sends an encoded frame (it is not modified).
	sendWire(w *wireFrame) error
	// sendBeside is send for a goroutine sending while another receives:
	// it never receives. When the peer has ended the stream it returns
	// io.EOF (the receiver gets the status).
	sendBeside(f *frame) error
	recv() (*frame, error)
	context() context.Context
}

type serverConn struct {
	ss grpc.ServerStream
	// mangle, if set (tests), rewrites each encoded frame before it is sent.
	mangle func([]byte) []byte
}

func (c *serverConn) send(f *frame) error { return c.sendWire(encodeWire(f)) }

func (c *serverConn) sendWire(w *wireFrame) error {
	if c.mangle != nil {
		b := c.mangle(w.bytes()) // a copy: w may be shared
		w = &wireFrame{parts: [][]byte{b}, size: len(b)}
	}
	return c.ss.SendMsg(w)
}

func (c *serverConn) sendBeside(f *frame) error { return c.send(f) }

func (c *serverConn) recv() (*frame, error) {
	m := new(rawFrame)
	if err := c.ss.RecvMsg(m); err != nil {
		return nil, err
	}
	return decodeFrame(m.b)
}

func (c *serverConn) context() context.Context { return c.ss.Context() }

type clientConn struct{ cs grpc.ClientStream }

func (c *clientConn) send(f *frame) error { return c.sendWire(encodeWire(f)) }

func (c *clientConn) sendWire(w *wireFrame) error {
	err := c.cs.SendMsg(w)
	if errors.Is(err, io.EOF) {
		// The server ended the stream: its status comes from RecvMsg.
		m := new(rawFrame)
		for {
			if rerr := c.cs.RecvMsg(m); rerr != nil {
				if errors.Is(rerr, io.EOF) {
					return err
				}
				return rerr
			}
		}
	}
	return err
}

func (c *clientConn) sendBeside(f *frame) error { return c.cs.SendMsg(encodeWire(f)) }

func (c *clientConn) recv() (*frame, error) {
	m := new(rawFrame)
	if err := c.cs.RecvMsg(m); err != nil {
		return nil, err
	}
	return decodeFrame(m.b)
}

func (c *clientConn) context() context.Context { return c.cs.Context() }

// openStream opens the replication stream on cc.
func openStream(ctx context.Context, cc *grpc.ClientConn) (*clientConn, error) {
	cs, err := cc.NewStream(ctx, &serviceDesc.Streams[0], streamPath,
		grpc.ForceCodecV2(frameCodec{}), grpc.MaxCallRecvMsgSize(maxFrameBytes))
	if err != nil {
		return nil, err
	}
	return &clientConn{cs: cs}, nil
}
