package transport

import (
	"errors"
	"time"
)

// Time is a contract timestamp (contract §0): whole seconds, written in RFC 3339 in UTC with
// a `Z`, e.g. "2025-11-20T14:03:11Z". It holds Unix seconds only, so a record pays 8 bytes per
// timestamp instead of the 24 of a time.Time, and two Times compare with ==.
//
// The zero Time means "unset". Fields marked omitempty in the contract carry the `omitzero`
// tag, so an unset value leaves the key out. A zero Time in an always-written field
// (k8s_created_at) encodes as null, which is what the reference's metav1.Time writes for a
// zero timestamp; converters always set it in practice.
type Time struct {
	unix int64
}

// NewTime returns t as a Time, truncated to whole seconds. A zero t gives the zero Time.
func NewTime(t time.Time) Time {
	if t.IsZero() {
		return Time{}
	}
	return Time{unix: t.Unix()}
}

// Unix returns the Time for sec seconds since the Unix epoch.
func Unix(sec int64) Time { return Time{unix: sec} }

// IsZero reports whether t is unset.
func (t Time) IsZero() bool { return t.unix == 0 }

// Unix returns t as seconds since the Unix epoch.
func (t Time) Unix() int64 { return t.unix }

// Time returns t as a time.Time in UTC; the zero Time gives the zero time.Time.
func (t Time) Time() time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.Unix(t.unix, 0).UTC()
}

// String returns the RFC 3339 form, or "" for the zero Time.
func (t Time) String() string {
	if t.IsZero() {
		return ""
	}
	return string(t.appendRFC3339(nil))
}

func (t Time) appendRFC3339(b []byte) []byte {
	return time.Unix(t.unix, 0).UTC().AppendFormat(b, time.RFC3339)
}

// MarshalJSON writes `"2025-11-20T14:03:11Z"`, or null for the zero Time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(`"2006-01-02T15:04:05Z"`))
	b = append(b, '"')
	b = t.appendRFC3339(b)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts an RFC 3339 string (any zone, fractions dropped) or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errors.New("transport: time must be an RFC 3339 string")
	}
	parsed, err := time.Parse(time.RFC3339, string(b[1:len(b)-1]))
	if err != nil {
		return err
	}
	*t = NewTime(parsed)
	return nil
}
