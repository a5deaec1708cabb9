package engine

import "context"

type actorKey struct{}

// WithActor records in ctx the person a request acts for (a signed-in
// user, or the user who made the API token), so jobs it queues say who
// started them.
func WithActor(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, actorKey{}, name)
}

// ActorOf is the person ctx acts for; "" for the server itself (the
// scheduler, retention, catch-up).
func ActorOf(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}
