package vault

import (
	"context"
	"fmt"
	"sync"
)

// uploadsInFlight bounds the sealed packs written in the background: on
// object storage one request takes longer than filling a pack, so a few
// overlap; each holds its pack's buffer (PackSize) until it is durable.
const uploadsInFlight = 4

// uploads writes full packs in the background, a bounded number at a
// time, so the ingest worker that filled one goes on chunking. A manifest
// still waits for every pack its chunks are in (awaitDurable), so nothing
// committed names a pack that is not durable.
type uploads struct {
	slots chan struct{} // a token per pack being written
	wg    sync.WaitGroup

	mu       sync.Mutex
	failures uint64 // pack writes that failed so far
	last     error  // the latest of them
}

func newUploads() *uploads { return &uploads{slots: make(chan struct{}, uploadsInFlight)} }

// failed records a pack write that failed.
func (u *uploads) failed(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failures++
	u.last = err
}

// state answers how many pack writes failed so far and the latest error.
func (u *uploads) state() (uint64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.failures, u.last
}

// wait returns once every pack write started has ended.
func (u *uploads) wait() { u.wg.Wait() }

// writePackAsync hands a full pack to a background write, waiting for a
// free slot first (this bounds the memory full packs hold). The write
// outlives the request that filled the pack, whose other chunks may be
// anyone's, so it runs without that request's cancellation.
func (v *Vault) writePackAsync(ctx context.Context, p *packWriter) error {
	if err := v.takeSlot(ctx, p); err != nil {
		return err
	}
	v.up.wg.Add(1)
	go func() {
		defer v.up.wg.Done()
		defer func() { <-v.up.slots }()
		if err := v.writePack(context.WithoutCancel(ctx), p); err != nil {
			v.up.failed(err)
			v.log.Warn("pack write failed; the uploads whose chunks it held fail", "err", err)
		}
	}()
	return nil
}

// writePackBounded writes a pack now, in a slot of the background writes.
func (v *Vault) writePackBounded(ctx context.Context, p *packWriter) error {
	if err := v.takeSlot(ctx, p); err != nil {
		return err
	}
	defer func() { <-v.up.slots }()
	err := v.writePack(ctx, p)
	if err != nil {
		v.up.failed(err)
	}
	return err
}

// takeSlot waits for a free write slot; when ctx ends first, p's chunks
// are no longer pending (a commit waiting for them then fails).
func (v *Vault) takeSlot(ctx context.Context, p *packWriter) error {
	select {
	case v.up.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		v.dropPending(p)
		v.mu.Lock()
		v.written.Broadcast()
		v.mu.Unlock()
		return ctx.Err()
	}
}

// uploadFailedSince answers the latest pack write failure when one
// happened after the failures count seen (a blob's first block): its
// chunks may have been in that pack, so the upload stops early instead
// of streaming on to a commit that must fail.
func (v *Vault) uploadFailedSince(seen uint64) error {
	n, err := v.up.state()
	if n > seen {
		return fmt.Errorf("a pack write failed during this upload: %w", err)
	}
	return nil
}

// lostChunk is the error of a commit that finds a chunk neither durable
// nor pending: the pack it was in failed to write.
func (v *Vault) lostChunk(id ChunkID) error {
	_, err := v.up.state()
	if err == nil {
		return fmt.Errorf("chunk %s was lost (a pack write failed); upload the blob again", id)
	}
	return fmt.Errorf("chunk %s was lost, upload the blob again: %w", id, err)
}
