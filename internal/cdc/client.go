package cdc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tandem-db/tandem/internal/arbiter"
)

// Stream is one open subscription (the low-level client API): the Hello,
// then Recv returns batches until the stream ends.
type Stream struct {
	cc    *grpc.ClientConn
	cs    grpc.ClientStream
	Hello *Hello
	sendM sync.Mutex
}

// SubscribeOptions are the arguments of Open.
type SubscribeOptions struct {
	// Group is the serving HA group (checked by the server; "" = any).
	Group string
	// Subscriber names this consumer (status, WAL retention).
	Subscriber string
	// Source is the deployment From is a position of ("" = the serving
	// one); From the last position applied (zero: start with a snapshot).
	Source string
	From   Position
	// WantSnapshot asks for a snapshot whatever From is.
	WantSnapshot bool
	// DialOptions replace the plaintext default (TLS, the change stream
	// credential: package security).
	DialOptions []grpc.DialOption
}

// Open subscribes to the change stream of the node whose peer address is
// addr.
func Open(ctx context.Context, addr string, o SubscribeOptions) (*Stream, error) {
	dial := o.DialOptions
	if len(dial) == 0 {
		dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	cc, err := grpc.NewClient(addr, append(dial, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))...)
	if err != nil {
		return nil, err
	}
	cs, err := cc.NewStream(ctx, &serviceDesc.Streams[0], subscribePath)
	if err != nil {
		cc.Close()
		return nil, err
	}
	var flags byte
	if o.WantSnapshot {
		flags |= flagWantSnapshot
	}
	if err := cs.SendMsg(wrapperspb.Bytes(encodeSubscribe(subscribe{Group: o.Group, Subscriber: o.Subscriber, Source: o.Source, From: o.From, Flags: flags}))); err != nil && !errors.Is(err, io.EOF) {
		cc.Close()
		return nil, err
	}
	s := &Stream{cc: cc, cs: cs}
	m := new(wrapperspb.BytesValue)
	if err := cs.RecvMsg(m); err != nil {
		cc.Close()
		return nil, err
	}
	h, _, err := decodeServer(m.Value)
	if err != nil || h == nil {
		cc.Close()
		return nil, fmt.Errorf("cdc: expected Hello: %v", err)
	}
	s.Hello = h
	return s, nil
}

// Recv returns the next batch.
func (s *Stream) Recv() (*Batch, error) {
	m := new(wrapperspb.BytesValue)
	if err := s.cs.RecvMsg(m); err != nil {
		return nil, err
	}
	_, b, err := decodeServer(m.Value)
	if err != nil || b == nil {
		return nil, fmt.Errorf("cdc: expected a batch: %v", err)
	}
	return b, nil
}

// Ack tells the server everything up to p is applied (status, retention).
func (s *Stream) Ack(p Position) error {
	s.sendM.Lock()
	defer s.sendM.Unlock()
	return s.cs.SendMsg(wrapperspb.Bytes(encodeAck(p)))
}

// Close ends the stream.
func (s *Stream) Close() error { return s.cc.Close() }

// Target finds the peer address of the serving deployment's active.
type Target interface {
	Resolve(ctx context.Context) (string, error)
}

// StaticTarget is a fixed list of peer addresses, tried in turn.
type StaticTarget struct {
	Addrs []string
	mu    sync.Mutex
	i     int
}

func (t *StaticTarget) Resolve(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.Addrs) == 0 {
		return "", errors.New("cdc: no peer address")
	}
	a := t.Addrs[t.i%len(t.Addrs)]
	t.i++
	return a, nil
}

// ArbiterTarget finds the active of Group through the arbiter at
// Endpoints (its leader key's peer address).
type ArbiterTarget struct {
	Endpoints []string
	Group     string
	Logger    *slog.Logger
	TLS       *tls.Config // arbiter TLS (arbiter.DialOptions.TLS); nil: plaintext

	mu  sync.Mutex
	cli *arbiter.Client
}

func (t *ArbiterTarget) Resolve(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cli == nil {
		cli, err := arbiter.Dial(ctx, t.Endpoints, arbiter.DialOptions{Logger: t.Logger, DialTimeout: 2 * time.Second, TLS: t.TLS})
		if err != nil {
			return "", err
		}
		t.cli = cli
	}
	l, _, err := t.cli.Group(t.Group).Leader(ctx)
	if err != nil {
		return "", err
	}
	if l == nil || l.PeerAddr == "" {
		return "", fmt.Errorf("cdc: group %s at %s has no active", t.Group, strings.Join(t.Endpoints, ","))
	}
	return l.PeerAddr, nil
}

// Close releases the arbiter connection.
func (t *ArbiterTarget) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cli != nil {
		t.cli.Close()
		t.cli = nil
	}
}
