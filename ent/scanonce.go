package ent

import "entgo.io/ent/dialect/sql"

// scanOnce returns scan (a query's ScanValues) changed so that the query
// allocates the values it scans rows into once, on its first row, and scans
// every following row into the same values: sqlgraph scans a row into the
// values, passes them to Assign and drops them, and assignValues copies each
// value out into the node. The exception is a column no field declares (a
// *sql.UnknownType, which sqlgraph replaces by a holder of the column's type
// that assignValues keeps in the node's selectValues): a query with one
// allocates its values for each row, as it did before.
//
// sqlCount runs the same template with no ScanValues: scanOnce(nil) is nil.
func scanOnce(scan func(columns []string) ([]any, error)) func(columns []string) ([]any, error) {
	if scan == nil {
		return nil
	}
	var values []any
	return func(columns []string) ([]any, error) {
		if values != nil {
			return values, nil
		}
		v, err := scan(columns)
		if err != nil {
			return nil, err
		}
		for _, x := range v {
			if _, ok := x.(*sql.UnknownType); ok {
				return v, nil
			}
		}
		values = v
		return v, nil
	}
}
