package resolvers

import "gatehouse/ent/schema/enum"

// sodConflicts maps the separation-of-duties conflicts of a planned item
// for the preview (never nil).
func sodConflicts(cs []enum.SodConflict) []*enum.SodConflict {
	out := make([]*enum.SodConflict, len(cs))
	for i := range cs {
		out[i] = &cs[i]
	}
	return out
}
