package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/switchboardhq/switchboard/plugins/proto"
)

// Handshake is the go-plugin handshake hub and connectors must agree on.
// ProtocolVersion changes only with an incompatible change of
// plugins/proto/connector.proto; the magic cookie only stops a connector
// binary from being run by hand by mistake (it is not a security measure).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "SWITCHBOARD_CONNECTOR_PLUGIN",
	MagicCookieValue: "d3b5c1e2-7f4a-4c7e-9a51-switchboard-connector",
}

// pluginName is the one plugin a connector process serves.
const pluginName = "connector"

// MaxMessageSize bounds one gRPC message between hub and plugin in either
// direction. It is far above the hub's inbound body limit so a large but
// accepted body, echoed back as event payloads, still fits.
const MaxMessageSize = 64 << 20

// PluginSet is the go-plugin plugin set both ends of a connection use: the
// plugin serves impl, the hub (impl nil) dispenses a Client. Hosts and the
// in-process harness need it; connector authors never do.
func PluginSet(impl Connector) plugin.PluginSet {
	return plugin.PluginSet{pluginName: &grpcPlugin{impl: impl}}
}

// Dispense returns the Client of a started go-plugin client protocol (the
// value of plugin.Client.Client() or plugin.TestPluginGRPCConn).
func Dispense(cp plugin.ClientProtocol) (Client, error) {
	raw, err := cp.Dispense(pluginName)
	if err != nil {
		return nil, fmt.Errorf("dispensing connector: %w", err)
	}
	c, ok := raw.(Client)
	if !ok {
		return nil, fmt.Errorf("dispensing connector: unexpected type %T", raw)
	}
	return c, nil
}

// grpcPlugin glues Connector to go-plugin's gRPC transport.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Connector
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterConnectorServer(s, &server{impl: p.impl})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &client{rpc: pb.NewConnectorClient(cc)}, nil
}

// server runs in the plugin: gRPC in, Connector calls, gRPC out.
type server struct {
	pb.UnimplementedConnectorServer
	impl Connector
}

// guard turns a panic in the author's code into an error for this one call
// instead of a crash of the plugin and every call in flight.
func guard(method string, err *error) {
	if r := recover(); r != nil {
		slog.Error("connector panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = status.Errorf(codes.Internal, "connector panicked in %s: %v", method, r)
	}
}

func (s *server) Describe(ctx context.Context, _ *pb.DescribeRequest) (_ *pb.Description, err error) {
	defer guard("Describe", &err)
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	if d == nil {
		return nil, status.Error(codes.Internal, "Describe returned no description")
	}
	_, poll := s.impl.(Poller)
	out := &pb.Description{
		Id:                d.ID,
		Name:              d.Name,
		Version:           d.Version,
		UnifiedApis:       d.UnifiedAPIs,
		WebhookSupport:    &pb.WebhookSupport{Mode: string(d.Webhook.Mode), ManagedVia: string(d.Webhook.ManagedVia)},
		SettingsSchema:    d.SettingsSchema,
		CredentialsSchema: d.CredentialsSchema,
		ProviderSigns:     d.ProviderSigns,
		Poll:              poll,

		PollIntervalMinMs:     d.PollIntervalMin.Milliseconds(),
		PollIntervalDefaultMs: d.PollIntervalDefault.Milliseconds(),
	}
	if v := d.Webhook.VirtualWebhooks; v != nil {
		out.WebhookSupport.VirtualWebhooks = &pb.VirtualWebhooks{
			RequestRate: &pb.RequestRate{Rate: int64(v.RequestRate.Rate), Size: int64(v.RequestRate.Size), Unit: v.RequestRate.Unit},
			Resources:   v.Resources,
		}
	}
	for _, e := range d.SupportedEvents {
		out.SupportedEvents = append(out.SupportedEvents, &pb.SupportedEvent{EventType: e.EventType, DownstreamEventType: e.DownstreamEventType})
	}
	return out, nil
}

func (s *server) HandleInbound(ctx context.Context, in *pb.InboundRequest) (_ *pb.InboundResult, err error) {
	defer guard("HandleInbound", &err)
	res, err := s.impl.HandleInbound(ctx, &InboundRequest{
		Method:     in.GetMethod(),
		Path:       in.GetPath(),
		Headers:    http.Header(fromValues(in.GetHeaders(), true)),
		Query:      url.Values(fromValues(in.GetQuery(), false)),
		Body:       in.GetBody(),
		Connection: fromConnection(in.GetConnection()),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.InboundResult{}
	if res == nil {
		return out, nil
	}
	out.Events = toEvents(res.Events)
	if r := res.Response; r != nil {
		out.Response = &pb.DirectResponse{Status: int32(r.Status), Headers: toValues(r.Headers), Body: r.Body}
	}
	return out, nil
}

func (s *server) Subscribe(ctx context.Context, in *pb.SubscribeRequest) (_ *pb.SubscribeResult, err error) {
	defer guard("Subscribe", &err)
	res, err := s.impl.Subscribe(ctx, &SubscribeRequest{Connection: fromConnection(in.GetConnection()), WebhookURL: in.GetWebhookUrl()})
	if err != nil {
		return nil, toStatus(err)
	}
	if res == nil {
		return &pb.SubscribeResult{}, nil
	}
	return &pb.SubscribeResult{Registered: res.Registered, State: res.State, Message: res.Message}, nil
}

func (s *server) Unsubscribe(ctx context.Context, in *pb.UnsubscribeRequest) (_ *pb.UnsubscribeResult, err error) {
	defer guard("Unsubscribe", &err)
	if err := s.impl.Unsubscribe(ctx, &UnsubscribeRequest{Connection: fromConnection(in.GetConnection()), State: in.GetState()}); err != nil {
		return nil, toStatus(err)
	}
	return &pb.UnsubscribeResult{}, nil
}

func (s *server) Poll(ctx context.Context, in *pb.PollRequest) (_ *pb.PollResult, err error) {
	defer guard("Poll", &err)
	p, ok := s.impl.(Poller)
	if !ok {
		return nil, status.Error(codes.Unimplemented, ErrUnsupported.Error())
	}
	res, err := p.Poll(ctx, &PollRequest{Connection: fromConnection(in.GetConnection()), Cursor: in.GetCursor()})
	if err != nil {
		return nil, toStatus(err)
	}
	if res == nil {
		return &pb.PollResult{Cursor: in.GetCursor()}, nil
	}
	return &pb.PollResult{Events: toEvents(res.Events), Cursor: res.Cursor, More: res.More, NextPollAfterMs: res.NextPollAfter.Milliseconds()}, nil
}

// client runs in the hub: Connector calls in, gRPC out.
type client struct {
	rpc pb.ConnectorClient
}

var _ Client = (*client)(nil)

func (c *client) Describe(ctx context.Context) (*Description, error) {
	d, err := c.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fromStatus(err)
	}
	out := &Description{
		ID:                d.GetId(),
		Name:              d.GetName(),
		Version:           d.GetVersion(),
		UnifiedAPIs:       d.GetUnifiedApis(),
		Webhook:           WebhookSupport{Mode: WebhookMode(d.GetWebhookSupport().GetMode()), ManagedVia: ManagedVia(d.GetWebhookSupport().GetManagedVia())},
		SettingsSchema:    d.GetSettingsSchema(),
		CredentialsSchema: d.GetCredentialsSchema(),
		ProviderSigns:     d.GetProviderSigns(),
		Poll:              d.GetPoll(),

		PollIntervalMin:     time.Duration(d.GetPollIntervalMinMs()) * time.Millisecond,
		PollIntervalDefault: time.Duration(d.GetPollIntervalDefaultMs()) * time.Millisecond,
	}
	if v := d.GetWebhookSupport().GetVirtualWebhooks(); v != nil {
		rr := v.GetRequestRate()
		out.Webhook.VirtualWebhooks = &VirtualWebhooks{
			RequestRate: RequestRate{Rate: int(rr.GetRate()), Size: int(rr.GetSize()), Unit: rr.GetUnit()},
			Resources:   v.GetResources(),
		}
	}
	for _, e := range d.GetSupportedEvents() {
		out.SupportedEvents = append(out.SupportedEvents, SupportedEvent{EventType: e.GetEventType(), DownstreamEventType: e.GetDownstreamEventType()})
	}
	return out, nil
}

func (c *client) HandleInbound(ctx context.Context, req *InboundRequest) (*InboundResult, error) {
	res, err := c.rpc.HandleInbound(ctx, &pb.InboundRequest{
		Method:     req.Method,
		Path:       req.Path,
		Headers:    toValues(req.Headers),
		Query:      toValues(req.Query),
		Body:       req.Body,
		Connection: toConnection(req.Connection),
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	out := &InboundResult{Events: fromEvents(res.GetEvents())}
	if r := res.GetResponse(); r != nil {
		out.Response = &DirectResponse{Status: int(r.GetStatus()), Headers: http.Header(fromValues(r.GetHeaders(), true)), Body: r.GetBody()}
	}
	return out, nil
}

func (c *client) Subscribe(ctx context.Context, req *SubscribeRequest) (*SubscribeResult, error) {
	res, err := c.rpc.Subscribe(ctx, &pb.SubscribeRequest{Connection: toConnection(req.Connection), WebhookUrl: req.WebhookURL})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &SubscribeResult{Registered: res.GetRegistered(), State: res.GetState(), Message: res.GetMessage()}, nil
}

func (c *client) Unsubscribe(ctx context.Context, req *UnsubscribeRequest) error {
	_, err := c.rpc.Unsubscribe(ctx, &pb.UnsubscribeRequest{Connection: toConnection(req.Connection), State: req.State})
	return fromStatus(err)
}

func (c *client) Poll(ctx context.Context, req *PollRequest) (*PollResult, error) {
	res, err := c.rpc.Poll(ctx, &pb.PollRequest{Connection: toConnection(req.Connection), Cursor: req.Cursor})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &PollResult{
		Events:        fromEvents(res.GetEvents()),
		Cursor:        res.GetCursor(),
		More:          res.GetMore(),
		NextPollAfter: time.Duration(res.GetNextPollAfterMs()) * time.Millisecond,
	}, nil
}

// toStatus encodes a connector's error as the gRPC status the hub decodes
// with fromStatus.
func toStatus(err error) error {
	var (
		malformed *MalformedError
		provider  *ProviderError
		limited   *RateLimitedError
	)
	switch {
	case errors.As(err, &limited):
		st, derr := status.New(codes.ResourceExhausted, err.Error()).WithDetails(
			protoadapt.MessageV1Of(&pb.RateLimitDetail{RetryAfterMs: limited.RetryAfter.Milliseconds(), Message: limited.Message}))
		if derr != nil {
			return status.Error(codes.ResourceExhausted, err.Error())
		}
		return st.Err()
	case errors.As(err, &malformed):
		return status.Error(codes.InvalidArgument, malformed.Reason)
	case errors.Is(err, ErrMalformed):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrBadSignature):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.As(err, &provider):
		st, derr := status.New(codes.FailedPrecondition, err.Error()).WithDetails(
			protoadapt.MessageV1Of(&pb.ProviderErrorDetail{Status: int32(provider.StatusCode), Message: provider.Message}))
		if derr != nil {
			return status.Error(codes.FailedPrecondition, err.Error())
		}
		return st.Err()
	case errors.Is(err, ErrUnsupported):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return status.FromContextError(err).Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, err.Error())
}

// fromStatus rebuilds the SDK error a gRPC status stands for, so errors.Is
// and errors.As work on the hub's side.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg := st.Message()
	switch st.Code() {
	case codes.InvalidArgument:
		return &MalformedError{Reason: msg}
	case codes.Unauthenticated:
		if msg == ErrBadSignature.Error() {
			return ErrBadSignature
		}
		return &remoteError{msg: msg, kind: ErrBadSignature}
	case codes.FailedPrecondition:
		for _, d := range st.Details() {
			if pd, ok := d.(*pb.ProviderErrorDetail); ok {
				return &ProviderError{StatusCode: int(pd.GetStatus()), Message: pd.GetMessage()}
			}
		}
	case codes.ResourceExhausted:
		for _, d := range st.Details() {
			if rd, ok := d.(*pb.RateLimitDetail); ok {
				return &RateLimitedError{RetryAfter: time.Duration(rd.GetRetryAfterMs()) * time.Millisecond, Message: rd.GetMessage()}
			}
		}
		return &remoteError{msg: msg, kind: ErrRateLimited}
	case codes.Unimplemented:
		return &remoteError{msg: msg, kind: ErrUnsupported}
	case codes.Unavailable:
		return &remoteError{msg: msg, kind: ErrUnavailable}
	case codes.DeadlineExceeded:
		return &remoteError{msg: msg, kind: context.DeadlineExceeded}
	case codes.Canceled:
		return &remoteError{msg: msg, kind: context.Canceled}
	}
	return &remoteError{msg: msg, kind: err}
}

func toConnection(c Connection) *pb.Connection {
	return &pb.Connection{Id: c.ID, ConsumerId: c.ConsumerID, Settings: c.Settings, Credentials: c.Credentials}
}

func fromConnection(c *pb.Connection) Connection {
	return Connection{ID: c.GetId(), ConsumerID: c.GetConsumerId(), Settings: c.GetSettings(), Credentials: c.GetCredentials()}
}

func toValues(m map[string][]string) map[string]*pb.Values {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*pb.Values, len(m))
	for k, v := range m {
		out[k] = &pb.Values{Values: v}
	}
	return out
}

// fromValues converts a proto multimap; header names are canonicalised so
// http.Header.Get finds them whatever case the sender used.
func fromValues(m map[string]*pb.Values, header bool) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		if header {
			k = http.CanonicalHeaderKey(k)
		}
		out[k] = append(out[k], v.GetValues()...)
	}
	return out
}

func toEvents(evs []NativeEvent) []*pb.NativeEvent {
	out := make([]*pb.NativeEvent, 0, len(evs))
	for _, e := range evs {
		pe := &pb.NativeEvent{Type: e.Type, Payload: e.Payload, IdempotencyKey: e.IdempotencyKey}
		if !e.OccurredAt.IsZero() {
			pe.OccurredAt = timestamppb.New(e.OccurredAt)
		}
		out = append(out, pe)
	}
	return out
}

func fromEvents(evs []*pb.NativeEvent) []NativeEvent {
	out := make([]NativeEvent, 0, len(evs))
	for _, e := range evs {
		ne := NativeEvent{Type: e.GetType(), Payload: e.GetPayload(), IdempotencyKey: e.GetIdempotencyKey()}
		if e.GetOccurredAt() != nil {
			ne.OccurredAt = e.GetOccurredAt().AsTime()
		}
		out = append(out, ne)
	}
	return out
}
