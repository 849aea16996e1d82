// Package chatmemory is langchaingo's chat message history (schema.ChatMessageHistory) over the
// ChatMemory gRPC service: a memory.ConversationBuffer (or any langchaingo memory) that keeps its
// conversation in ChatMemory is shared by every replica of the caller, bounded by the server's
// window, and survives restarts.
//
//	history := chatmemory.NewChatMessageHistory(chatmemoryv1.NewChatMemoryClient(conn), "session-42")
//	buffer := memory.NewConversationBuffer(memory.WithChatHistory(history))
//
// How langchaingo's message types map to ChatMemory messages: docs/adapters-go.md.
package chatmemory

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	chatmemoryv1 "github.com/chatmemory/chatmemory/gen/go/chatmemory/v1"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/schema"
	"google.golang.org/protobuf/types/known/durationpb"
)

// RetryServiceConfig is gRPC's standard service config that retries UNAVAILABLE (Redis down, a
// replica draining), the policy every ChatMemory client uses: pass it to grpc.NewClient with
// grpc.WithDefaultServiceConfig. Retries are safe for writes because every write of this history
// carries a request id.
const RetryServiceConfig = `{"methodConfig": [{
  "name": [{"service": "chatmemory.v1.ChatMemory"}],
  "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "1s",
                  "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}`

// DefaultTimeout is the deadline of each call whose context has none, as in the other clients.
const DefaultTimeout = 5 * time.Second

// ChatMessageHistory keeps one conversation of ChatMemory. It holds no messages itself, so any
// number of them (in any number of processes) may share a conversation id. Safe for concurrent use.
type ChatMessageHistory struct {
	client         chatmemoryv1.ChatMemoryClient
	conversationID string
	timeout        time.Duration
	ttl            time.Duration
	limit          int32
	maxTokens      int32
	pinSystem      bool
}

// Statically assert that ChatMessageHistory is a langchaingo chat message history.
var _ schema.ChatMessageHistory = (*ChatMessageHistory)(nil)

// Option configures a ChatMessageHistory.
type Option func(*ChatMessageHistory)

// WithTimeout sets the deadline of each call whose context has none (default DefaultTimeout).
func WithTimeout(timeout time.Duration) Option {
	return func(h *ChatMessageHistory) { h.timeout = timeout }
}

// WithTTL makes every write set the conversation's expiry to ttl after it (AppendRequest.ttl),
// instead of the server's CHATMEMORY_TTL_SECONDS.
func WithTTL(ttl time.Duration) Option {
	return func(h *ChatMessageHistory) { h.ttl = ttl }
}

// WithLimit makes Messages return only the newest limit messages of the window (pinned messages
// are always returned); 0, the default, returns the whole window.
func WithLimit(limit int32) Option {
	return func(h *ChatMessageHistory) { h.limit = limit }
}

// WithMaxTokens makes Messages return the newest part of the window that fits maxTokens under the
// server's encoding (GetHistoryRequest.max_tokens); 0, the default, sets no budget.
func WithMaxTokens(maxTokens int32) Option {
	return func(h *ChatMessageHistory) { h.maxTokens = maxTokens }
}

// WithPinnedSystemMessages stores system messages pinned: the window never trims them and
// Messages returns them first, so the system prompt survives a long conversation.
func WithPinnedSystemMessages() Option {
	return func(h *ChatMessageHistory) { h.pinSystem = true }
}

// NewChatMessageHistory returns the history of conversationID (1..256 characters of
// [A-Za-z0-9._:@/-]; the server rejects others with INVALID_ARGUMENT) in the ChatMemory service
// that client talks to.
func NewChatMessageHistory(client chatmemoryv1.ChatMemoryClient, conversationID string, options ...Option) *ChatMessageHistory {
	h := &ChatMessageHistory{client: client, conversationID: conversationID, timeout: DefaultTimeout}
	for _, option := range options {
		option(h)
	}
	return h
}

// ConversationID returns the id of the conversation this history keeps.
func (h *ChatMessageHistory) ConversationID() string { return h.conversationID }

// AddMessage appends one message.
func (h *ChatMessageHistory) AddMessage(ctx context.Context, message llms.ChatMessage) error {
	return h.AddMessages(ctx, message)
}

// AddUserMessage appends a human message.
func (h *ChatMessageHistory) AddUserMessage(ctx context.Context, text string) error {
	return h.AddMessages(ctx, llms.HumanChatMessage{Content: text})
}

// AddAIMessage appends an AI message.
func (h *ChatMessageHistory) AddAIMessage(ctx context.Context, text string) error {
	return h.AddMessages(ctx, llms.AIChatMessage{Content: text})
}

// AddMessages appends messages in one Append: stored atomically and in order (a turn's input and
// output together, say), once however often gRPC retries it, since it carries a request id.
func (h *ChatMessageHistory) AddMessages(ctx context.Context, messages ...llms.ChatMessage) error {
	stored, err := h.storedMessages(messages)
	if err != nil {
		return err
	}
	ctx, cancel := h.withDeadline(ctx)
	defer cancel()
	_, err = h.client.Append(ctx, &chatmemoryv1.AppendRequest{
		ConversationId: h.conversationID,
		Messages:       stored,
		RequestId:      rand.Text(),
		Ttl:            h.ttlProto(),
	})
	if err != nil {
		return fmt.Errorf("chatmemory: append to %q: %w", h.conversationID, err)
	}
	return nil
}

// Messages returns the conversation, oldest first (pinned messages first): the whole window, or
// the part WithLimit and WithMaxTokens choose.
func (h *ChatMessageHistory) Messages(ctx context.Context) ([]llms.ChatMessage, error) {
	ctx, cancel := h.withDeadline(ctx)
	defer cancel()
	history, err := h.client.GetHistory(ctx, &chatmemoryv1.GetHistoryRequest{
		ConversationId: h.conversationID,
		Limit:          h.limit,
		MaxTokens:      h.maxTokens,
	})
	if err != nil {
		return nil, fmt.Errorf("chatmemory: read %q: %w", h.conversationID, err)
	}
	messages := make([]llms.ChatMessage, 0, len(history.GetMessages()))
	for _, stored := range history.GetMessages() {
		messages = append(messages, fromStored(stored))
	}
	return messages, nil
}

// SetMessages replaces the whole conversation (pinned messages and window) with messages in one
// atomic Replace; no messages leave it empty.
func (h *ChatMessageHistory) SetMessages(ctx context.Context, messages []llms.ChatMessage) error {
	stored, err := h.storedMessages(messages)
	if err != nil {
		return err
	}
	ctx, cancel := h.withDeadline(ctx)
	defer cancel()
	_, err = h.client.Replace(ctx, &chatmemoryv1.ReplaceRequest{
		ConversationId: h.conversationID,
		Messages:       stored,
		RequestId:      rand.Text(),
		Ttl:            h.ttlProto(),
	})
	if err != nil {
		return fmt.Errorf("chatmemory: replace %q: %w", h.conversationID, err)
	}
	return nil
}

// Clear deletes the conversation; its id is usable again at once.
func (h *ChatMessageHistory) Clear(ctx context.Context) error {
	ctx, cancel := h.withDeadline(ctx)
	defer cancel()
	if _, err := h.client.Clear(ctx, &chatmemoryv1.ClearRequest{ConversationId: h.conversationID}); err != nil {
		return fmt.Errorf("chatmemory: clear %q: %w", h.conversationID, err)
	}
	return nil
}

func (h *ChatMessageHistory) storedMessages(messages []llms.ChatMessage) ([]*chatmemoryv1.Message, error) {
	stored := make([]*chatmemoryv1.Message, 0, len(messages))
	for i, message := range messages {
		converted, err := toStored(message)
		if err != nil {
			return nil, fmt.Errorf("chatmemory: message %d: %w", i, err)
		}
		converted.Pinned = h.pinSystem && converted.GetRole() == roleSystem
		stored = append(stored, converted)
	}
	return stored, nil
}

// withDeadline keeps the caller's deadline and adds the history's timeout when there is none:
// a call without a deadline could wait forever on a network that drops packets.
func (h *ChatMessageHistory) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || h.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, h.timeout)
}

func (h *ChatMessageHistory) ttlProto() *durationpb.Duration {
	if h.ttl <= 0 {
		return nil
	}
	return durationpb.New(h.ttl)
}
