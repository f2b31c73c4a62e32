// Package job names the River jobs the hub queues. It sits apart from the
// store (which inserts them inside its transactions) and delivery (which works
// them) so neither has to import the other.
package job

// Fanout makes the first try of every pending first-attempt delivery of one
// event. One per event, whatever the fan-out: the queue's cost on the happy
// path does not grow with the number of subscribers.
type Fanout struct {
	EventID string `json:"event_id"`
}

// Kind is River's name for the job; it is stored in the queue, never change it.
func (Fanout) Kind() string { return "fanout" }

// Retry makes the next try of one delivery whose earlier try failed.
type Retry struct {
	DeliveryID string `json:"delivery_id"`
	// Attempt is the try number this job makes, so a job re-run after a crash
	// can tell that its try was already recorded.
	Attempt int `json:"attempt"`
}

// Kind is River's name for the job; it is stored in the queue, never change it.
func (Retry) Kind() string { return "retry" }

// Recover works one bulk recovery (POST /webhook/webhooks/{id}/recover) in
// batches: each run of the job creates the deliveries of one batch of
// events in one short transaction, then snoozes to run again at once until
// the range is done. The recovery row holds the cursor, so a run cut off by
// a crash resumes where the last committed batch ended.
type Recover struct {
	RecoveryID string `json:"recovery_id"`
}

// Kind is River's name for the job; it is stored in the queue, never change it.
func (Recover) Kind() string { return "recover" }

// Poll polls one connection's provider (virtual webhooks) and snoozes until
// its next poll: one unique job per connection (store.PollInsertOpts) that
// reschedules itself for as long as the connection is polled.
type Poll struct {
	ConnectionID string `json:"connection_id"`
	ConsumerID   string `json:"consumer_id"`
}

// Kind is River's name for the job; it is stored in the queue, never change it.
func (Poll) Kind() string { return "poll" }
