package replication

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Service and method names on the peer port.
const (
	serviceName = "tandem.replication.Replication"
	streamName  = "Stream"
	streamPath  = "/" + serviceName + "/" + streamName
)

// serviceDesc is the hand-written descriptor of the replication service:
// one bidirectional stream of BytesValue messages carrying wire frames.
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
	recv() (*frame, error)
	context() context.Context
}

type serverConn struct {
	ss grpc.ServerStream
	// mangle, if set (tests), rewrites each encoded frame before it is sent.
	mangle func([]byte) []byte
}

func (c *serverConn) send(f *frame) error {
	b := encodeFrame(f)
	if c.mangle != nil {
		b = c.mangle(b)
	}
	return c.ss.SendMsg(wrapperspb.Bytes(b))
}

func (c *serverConn) recv() (*frame, error) {
	m := new(wrapperspb.BytesValue)
	if err := c.ss.RecvMsg(m); err != nil {
		return nil, err
	}
	return decodeFrame(m.Value)
}

func (c *serverConn) context() context.Context { return c.ss.Context() }

type clientConn struct{ cs grpc.ClientStream }

func (c *clientConn) send(f *frame) error {
	err := c.cs.SendMsg(wrapperspb.Bytes(encodeFrame(f)))
	if errors.Is(err, io.EOF) {
		// The server ended the stream: its status comes from RecvMsg.
		m := new(wrapperspb.BytesValue)
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

func (c *clientConn) recv() (*frame, error) {
	m := new(wrapperspb.BytesValue)
	if err := c.cs.RecvMsg(m); err != nil {
		return nil, err
	}
	return decodeFrame(m.Value)
}

func (c *clientConn) context() context.Context { return c.cs.Context() }

// openStream opens the replication stream on cc.
func openStream(ctx context.Context, cc *grpc.ClientConn) (*clientConn, error) {
	cs, err := cc.NewStream(ctx, &serviceDesc.Streams[0], streamPath)
	if err != nil {
		return nil, err
	}
	return &clientConn{cs: cs}, nil
}
