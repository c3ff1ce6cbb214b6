package notify

import "context"

// DeliverTogether is what Deliver does for delivery jobs worked at the
// same time: one run of the group for all of them (the jobs of keys, with
// their events), then each job's e-mails. It returns each job's error.
func (s *Service) DeliverTogether(ctx context.Context, keys []string, events [][]Event) []error {
	ds := make([]*delivery, len(keys))
	for i := range ds {
		ds[i] = &delivery{key: keys[i], events: events[i]}
	}
	errs := make([]error, len(ds))
	err := s.prepare(ctx, ds)
	for i, d := range ds {
		if errs[i] = err; err == nil {
			errs[i] = s.send(ctx, d)
		}
	}
	return errs
}
