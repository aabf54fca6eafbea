// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ParseMetadata fills the config struct pointed to by out from a trigger's
// metadata, authentication parameters and environment, as its `meta` tags say.
//
// A tag reads `meta:"<key>[,<option>]..."`. Options:
//
//	optional        the key may be missing (the field keeps its zero value)
//	default=<v>     the value when the key is missing (implies optional)
//	enum=<a>|<b>    the value must be one of these
//	min=<n>         numbers: the value must be at least n
//	from=<sources>  where the value may come from, in order, joined by '+':
//	                metadata (the trigger's metadata), auth (the resolved
//	                TriggerAuthentication), env (metadata "<key>FromEnv" names
//	                a variable of the target container); default metadata+env
//	secret          the value is a credential: it is never shown in errors
//	ms              durations: a bare number is milliseconds, not seconds
//	                (every trigger type's timeout key has it, as KEDA's
//	                HTTP-based scalers read theirs)
//	endpoint=<form> the value names where the scaler connects (and sends
//	                its credentials): checked against the trigger's
//	                EndpointPin, when it has one. Forms: url (a URL),
//	                hostport:<default port> ("host[:port]", each item of a
//	                []string), host:<port key>:<default port> (a host
//	                whose port is the value of another key), custom (the
//	                config, an EndpointLister, says)
//
// Field types: string, bool, int, int32, int64, float64, time.Duration
// ("30s", or a number of seconds; of milliseconds with ms), []string (comma-separated) and
// map[string]string ("k1=v1,k2=v2").
//
// Metadata keys that no field claims are errors. Every problem is reported,
// joined, each naming the trigger and the key and saying what was expected
// and what was found (never a secret's value). When the config implements
// Validator, its Validate runs after a clean parse, unless (at admission,
// AuthPending) a key was left for the TriggerAuthentication or the
// environment: rules across keys then wait for the build. A pinned trigger
// (t.Pin) has every endpoint key's value checked against the pin, unless it
// came from the pin owner's own Secrets and ConfigMaps. ParseMetadata does
// no I/O.
func ParseMetadata(t Trigger, out any) error {
	fields, err := tagsOf(out)
	if err != nil {
		return fmt.Errorf("%s: %w", t, err)
	}
	v := reflect.ValueOf(out).Elem()
	var errs []error
	deferred := false // a key was left for the TriggerAuthentication or the environment
	claimed := make(map[string]bool, 2*len(fields))
	sources := make(map[string]string, len(fields)) // key → where its value came from
	for _, f := range fields {
		claimed[f.key] = true
		claimed[f.key+"FromEnv"] = true
		raw, source, found, ferr := f.lookup(t)
		if !found && ferr == nil && t.AuthPending {
			if _, ok := t.Metadata[f.key+"FromEnv"]; ok {
				deferred = true
			}
		}
		if ferr != nil {
			errs = append(errs, &FieldError{Trigger: t.String(), Key: f.key, Msg: ferr.Error()})
			continue
		}
		if !found {
			switch {
			case f.hasDefault:
				raw, source = f.def, "default"
			case f.optional:
				continue
			case t.AuthPending && (f.sources&(fromAuth|fromEnv)) != 0:
				deferred = true
				continue
			default:
				errs = append(errs, &FieldError{Trigger: t.String(), Key: f.key, Msg: "is required" + f.whereHint()})
				continue
			}
		}
		if err := f.set(v.FieldByIndex(f.index), raw); err != nil {
			shown := strconv.Quote(raw)
			if f.secret {
				shown = "a value that is not shown"
			}
			where := ""
			if source != "metadata" {
				where = " (from " + source + ")"
			}
			errs = append(errs, &FieldError{Trigger: t.String(), Key: f.key, Msg: fmt.Sprintf("expected %s, found %s%s", err.Error(), shown, where)})
			continue
		}
		sources[f.key] = source
	}
	var unknown []string
	for k := range t.Metadata {
		if !claimed[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, &FieldError{Trigger: t.String(), Key: k, Msg: "is not a key of " + t.Type + " triggers; known keys: " + knownKeys(fields)})
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if t.Pin != nil {
		if err := checkPin(t, fields, v, sources, out); err != nil {
			return err
		}
	}
	if val, ok := out.(Validator); ok && !deferred {
		if err := val.Validate(); err != nil {
			return TriggerError(t, err)
		}
	}
	return nil
}

// TriggerError names the trigger t on err, an error of its config's rules
// across keys: a FieldError without a trigger gets t's, any other error is
// wrapped after t's name. It returns nil for nil.
func TriggerError(t Trigger, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) && fe.Trigger == "" {
		fe.Trigger = t.String()
		return fe
	}
	return fmt.Errorf("%s: %w", t, err)
}

// Deferred returns, for a config's rules across keys, whether a key's value
// is still to come: at admission (t.AuthPending), a key missing from the
// metadata comes later from the environment when its <key>FromEnv is set
// and, for authKeys, possibly from the TriggerAuthentication. Outside
// admission nothing is deferred.
func Deferred(t Trigger, authKeys ...string) func(key string) bool {
	return func(key string) bool {
		if !t.AuthPending {
			return false
		}
		if _, ok := t.Metadata[key]; ok {
			return false
		}
		if _, ok := t.Metadata[key+"FromEnv"]; ok {
			return true
		}
		for _, k := range authKeys {
			if k == key {
				return true
			}
		}
		return false
	}
}

// Validator is implemented by config structs with rules across keys. Validate
// must not change the config; it returns KeyError for a bad key.
type Validator interface {
	Validate() error
}

// FieldError is a problem with one key of a trigger's metadata.
type FieldError struct {
	Trigger string // e.g. `trigger 0 "orders" (rabbitmq)`; empty until ParseMetadata fills it
	Key     string
	Msg     string
}

func (e *FieldError) Error() string {
	if e.Trigger == "" {
		return fmt.Sprintf("key %q %s", e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: key %q %s", e.Trigger, e.Key, e.Msg)
}

// KeyError returns a FieldError for a config's Validate.
func KeyError(key, format string, args ...any) error {
	return &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// CheckTags reports mistakes in a config struct's `meta` tags: unknown
// options, unsupported field types, defaults that do not parse or are not in
// the enum, duplicate keys. Tests call it for every registered Type.
func CheckTags(cfg any) error {
	fields, err := tagsOf(cfg)
	if err != nil {
		return err
	}
	v := reflect.New(reflect.TypeOf(cfg).Elem()).Elem()
	keys := map[string]fieldSpec{}
	for _, f := range fields {
		keys[f.key] = f
	}
	for _, f := range fields {
		if e := f.endpoint; e != nil {
			if pf, ok := keys[e.portKey]; e.kind == "host" && (!ok || !isNumber(v.FieldByIndex(pf.index).Type())) {
				return fmt.Errorf("field %s: endpoint=host names port key %q, which is not a number key of this config", f.goName, e.portKey)
			}
			if _, ok := cfg.(EndpointLister); e.kind == "custom" && !ok {
				return fmt.Errorf("field %s: endpoint=custom, but %T is not an EndpointLister", f.goName, cfg)
			}
		}
		if f.hasDefault {
			if err := f.set(v.FieldByIndex(f.index), f.def); err != nil {
				return fmt.Errorf("field %s: default %q: expected %s", f.goName, f.def, err)
			}
		}
	}
	return nil
}

type source uint8

const (
	fromMetadata source = 1 << iota
	fromAuth
	fromEnv
)

type fieldSpec struct {
	index      []int // for reflect.Value.FieldByIndex: embedded structs add a step
	goName     string
	key        string
	optional   bool
	hasDefault bool
	def        string
	enum       []string
	min        *float64
	sources    source
	order      []source
	secret     bool
	ms         bool // a bare number is milliseconds
	endpoint   *endpointForm
}

var durationType = reflect.TypeOf(time.Duration(0))

func tagsOf(cfg any) ([]fieldSpec, error) {
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config must be a pointer to a struct, got %T", cfg)
	}
	var fields []fieldSpec
	if err := appendTags(&fields, rv.Elem().Type(), nil, map[string]bool{}); err != nil {
		return nil, err
	}
	return fields, nil
}

// appendTags adds the tagged fields of struct type rt, found at index path
// at, to fields. An embedded struct without a tag of its own contributes its
// fields as if they were rt's, so that trigger types can share a group of
// keys (a connection's, say).
func appendTags(fields *[]fieldSpec, rt reflect.Type, at []int, seen map[string]bool) error {
	for i := 0; i < rt.NumField(); i++ {
		sf := rt.Field(i)
		index := append(append([]int(nil), at...), i)
		tag, ok := sf.Tag.Lookup("meta")
		if !ok && sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			if !sf.IsExported() {
				return fmt.Errorf("embedded struct %s is not exported", sf.Name)
			}
			if err := appendTags(fields, sf.Type, index, seen); err != nil {
				return err
			}
			continue
		}
		if !ok || tag == "-" {
			continue
		}
		if !sf.IsExported() {
			return fmt.Errorf("field %s has a meta tag but is not exported", sf.Name)
		}
		f, err := parseTag(index, sf, tag)
		if err != nil {
			return err
		}
		if seen[f.key] {
			return fmt.Errorf("field %s: key %q is used twice", sf.Name, f.key)
		}
		seen[f.key] = true
		*fields = append(*fields, f)
	}
	return nil
}

// KeyInfo is one metadata key of a trigger type's config, as its `meta` tag
// declares it.
type KeyInfo struct {
	Key string
	// FromMetadata, FromAuth and FromEnv say where its value may come from:
	// the trigger's metadata, its TriggerAuthentication, or the scale
	// target's environment through "<key>FromEnv".
	FromMetadata, FromAuth, FromEnv bool
	Optional, Secret                bool
	// Endpoint says the value names where the scaler connects: a
	// ClusterTriggerAuthentication's allowedEndpoints apply to it.
	Endpoint bool
	// Milliseconds says a duration given as a bare number is in
	// milliseconds (the ms option).
	Milliseconds bool
}

// Keys lists the metadata keys of a config struct (a pointer to it, as
// Type.Config returns), in field order.
func Keys(cfg any) ([]KeyInfo, error) {
	fields, err := tagsOf(cfg)
	if err != nil {
		return nil, err
	}
	keys := make([]KeyInfo, len(fields))
	for i, f := range fields {
		keys[i] = KeyInfo{
			Key:          f.key,
			FromMetadata: f.sources&fromMetadata != 0,
			FromAuth:     f.sources&fromAuth != 0,
			FromEnv:      f.sources&fromEnv != 0,
			Optional:     f.optional || f.hasDefault,
			Secret:       f.secret,
			Endpoint:     f.endpoint != nil,
			Milliseconds: f.ms,
		}
	}
	return keys, nil
}

func parseTag(index []int, sf reflect.StructField, tag string) (fieldSpec, error) {
	parts := strings.Split(tag, ",")
	f := fieldSpec{index: index, goName: sf.Name, key: strings.TrimSpace(parts[0])}
	if f.key == "" {
		return f, fmt.Errorf("field %s: meta tag has no key", sf.Name)
	}
	f.order = []source{fromMetadata, fromEnv}
	for _, p := range parts[1:] {
		name, val, hasVal := strings.Cut(strings.TrimSpace(p), "=")
		switch {
		case name == "optional" && !hasVal:
			f.optional = true
		case name == "secret" && !hasVal:
			f.secret = true
		case name == "ms" && !hasVal:
			f.ms = true
		case name == "endpoint" && hasVal:
			form, err := parseEndpointForm(val)
			if err != nil {
				return f, fmt.Errorf("field %s: %w", sf.Name, err)
			}
			f.endpoint = &form
		case name == "default" && hasVal:
			f.hasDefault, f.def = true, val
		case name == "enum" && hasVal && val != "":
			f.enum = strings.Split(val, "|")
		case name == "min" && hasVal:
			m, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return f, fmt.Errorf("field %s: min=%q is not a number", sf.Name, val)
			}
			f.min = &m
		case name == "from" && hasVal:
			f.order = nil
			for _, s := range strings.Split(val, "+") {
				switch s {
				case "metadata":
					f.order = append(f.order, fromMetadata)
				case "auth":
					f.order = append(f.order, fromAuth)
				case "env":
					f.order = append(f.order, fromEnv)
				default:
					return f, fmt.Errorf("field %s: unknown source %q in from=", sf.Name, s)
				}
			}
		default:
			return f, fmt.Errorf("field %s: unknown meta tag option %q", sf.Name, p)
		}
	}
	for _, s := range f.order {
		f.sources |= s
	}
	if !supported(sf.Type) {
		return f, fmt.Errorf("field %s: type %s is not supported", sf.Name, sf.Type)
	}
	if f.min != nil && !isNumber(sf.Type) {
		return f, fmt.Errorf("field %s: min= on a non-number", sf.Name)
	}
	if f.ms && sf.Type != durationType {
		return f, fmt.Errorf("field %s: ms on a field that is not a time.Duration", sf.Name)
	}
	if f.enum != nil && sf.Type.Kind() != reflect.String {
		return f, fmt.Errorf("field %s: enum= on a non-string", sf.Name)
	}
	if f.endpoint != nil && sf.Type.Kind() != reflect.String && (sf.Type.Kind() != reflect.Slice || f.endpoint.kind != "hostport" && f.endpoint.kind != "custom") {
		return f, fmt.Errorf("field %s: endpoint= on a field that is not a string (or a []string of host:port, or custom)", sf.Name)
	}
	return f, nil
}

func supported(t reflect.Type) bool {
	if t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int32, reflect.Int64, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	case reflect.Map:
		return t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String
	}
	return false
}

func isNumber(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Float64:
		return true
	}
	return false
}

// lookup finds the raw value in the tag's sources, in order. found is false
// when no source has it; err reports a "<key>FromEnv" naming a missing variable.
func (f *fieldSpec) lookup(t Trigger) (raw, from string, found bool, err error) {
	if _, ok := t.Metadata[f.key]; ok && f.sources&fromMetadata == 0 {
		return "", "", false, fmt.Errorf("cannot be set in metadata%s", f.whereHint())
	}
	if _, ok := t.Metadata[f.key+"FromEnv"]; ok && f.sources&fromEnv == 0 {
		return "", "", false, fmt.Errorf("cannot be read from the environment (%sFromEnv)%s", f.key, f.whereHint())
	}
	for _, s := range f.order {
		switch s {
		case fromMetadata:
			if v, ok := t.Metadata[f.key]; ok {
				return v, "metadata", true, nil
			}
		case fromAuth:
			if v, ok := t.AuthParams[f.key]; ok {
				return v, "authentication", true, nil
			}
		case fromEnv:
			name, ok := t.Metadata[f.key+"FromEnv"]
			if !ok {
				continue
			}
			if t.AuthPending {
				return "", "", false, nil
			}
			if v, ok := t.Env[name]; ok {
				return v, "environment variable " + name, true, nil
			}
			return "", "", false, fmt.Errorf("names environment variable %q via %sFromEnv, which the target container does not have", name, f.key)
		}
	}
	return "", "", false, nil
}

func (f *fieldSpec) whereHint() string {
	var w []string
	for _, s := range f.order {
		switch s {
		case fromMetadata:
			w = append(w, "metadata")
		case fromAuth:
			w = append(w, "the TriggerAuthentication")
		case fromEnv:
			w = append(w, f.key+"FromEnv")
		}
	}
	return "; set it in " + strings.Join(w, " or ")
}

// set parses raw into the field. Its error says what was expected.
func (f *fieldSpec) set(v reflect.Value, raw string) error {
	s := strings.TrimSpace(raw)
	if f.enum != nil {
		ok := false
		for _, e := range f.enum {
			if s == e {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("one of %s", strings.Join(f.enum, ", "))
		}
	}
	if v.Type() == durationType {
		d, err := parseDuration(s, f.ms)
		if err != nil {
			return err
		}
		if f.min != nil && d.Seconds() < *f.min {
			return fmt.Errorf("a duration of at least %gs", *f.min)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		if f.secret {
			v.SetString(raw)
		} else {
			v.SetString(s)
		}
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return errors.New("a whole number")
		}
		if f.min != nil && float64(n) < *f.min {
			return fmt.Errorf("a whole number of at least %g", *f.min)
		}
		v.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return errors.New("a number")
		}
		if f.min != nil && n < *f.min {
			return fmt.Errorf("a number of at least %g", *f.min)
		}
		v.SetFloat(n)
	case reflect.Slice:
		var items []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
		v.Set(reflect.ValueOf(items))
	case reflect.Map:
		m := map[string]string{}
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			k, val, ok := strings.Cut(p, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return errors.New("a list of key=value pairs separated by commas")
			}
			m[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
		v.Set(reflect.ValueOf(m))
	}
	return nil
}

// parseDuration reads a Go duration ("30s", "500ms") or a bare number: of
// milliseconds when ms, of seconds otherwise.
func parseDuration(s string, ms bool) (time.Duration, error) {
	unit, want := time.Second, `a duration such as "30s" or a number of seconds`
	if ms {
		unit, want = time.Millisecond, `a duration such as "10s" or "500ms", or a number of milliseconds`
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(n) && !math.IsInf(n, 0) && math.Abs(n) < 1e9 {
		return time.Duration(n * float64(unit)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(want)
	}
	return d, nil
}

func knownKeys(fields []fieldSpec) string {
	keys := make([]string, 0, len(fields))
	for _, f := range fields {
		keys = append(keys, f.key)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// checkPin checks the values of the endpoint keys of a pinned trigger
// against t.Pin: every value a tenant chose (in metadata, the environment,
// or a parameter the pin's owner reads from the tenant's environment) must
// match one of its patterns. sources says where each key's value came from.
func checkPin(t Trigger, fields []fieldSpec, v reflect.Value, sources map[string]string, cfg any) error {
	pin := t.Pin
	chosen := func(key string) bool { // by the tenant, or by a default
		src, ok := sources[key]
		return ok && !(src == "authentication" && pin.Trusted[key])
	}
	refuse := func(key, what string) error {
		return &FieldError{Trigger: t.String(), Key: key, Msg: fmt.Sprintf("%s an endpoint that %s does not allow its credentials to be sent to (spec.allowedEndpoints); the value is not shown", what, pin.Owner)}
	}
	keys := make(map[string]fieldSpec, len(fields))
	for _, f := range fields {
		keys[f.key] = f
	}
	var errs []error
	for _, f := range fields {
		form := f.endpoint
		if form == nil {
			continue
		}
		fv := v.FieldByIndex(f.index)
		switch form.kind {
		case "url":
			if s := fv.String(); s != "" && chosen(f.key) {
				if e, err := parseEndpointURL(s); err != nil || !allowed(pin.Allowed, e) {
					errs = append(errs, refuse(f.key, "names"))
				}
			}
		case "hostport":
			if !chosen(f.key) {
				continue
			}
			items := []string{fv.String()}
			if fv.Kind() == reflect.Slice {
				items = fv.Interface().([]string)
			}
			for i, s := range items {
				if s == "" {
					continue
				}
				if e, err := parseHostPort(s, form.defaultPort); err != nil || !allowed(pin.Allowed, e) {
					what := "names"
					if len(items) > 1 {
						what = fmt.Sprintf("entry %d of the list names", i+1)
					}
					errs = append(errs, refuse(f.key, what))
				}
			}
		case "host":
			host := fv.String()
			pf := keys[form.portKey]
			if host == "" || !chosen(f.key) && !chosen(pf.key) {
				continue
			}
			e := endpoint{host: normHost(strings.TrimSpace(host)), port: form.defaultPort}
			if n := v.FieldByIndex(pf.index).Int(); n != 0 {
				e.port = strconv.FormatInt(n, 10)
			}
			if !validHost(e.host) || !allowed(pin.Allowed, e) {
				errs = append(errs, refuse(f.key, "names"))
			}
		case "custom":
			if fv.Kind() == reflect.Slice && fv.Len() == 0 || fv.Kind() == reflect.String && fv.String() == "" || !chosen(f.key) {
				continue
			}
			eps, err := cfg.(EndpointLister).Endpoints(f.key)
			if err != nil || len(eps) == 0 {
				errs = append(errs, refuse(f.key, "names"))
				continue
			}
			for _, s := range eps {
				if e, err := parseHostPort(s, ""); err != nil || !allowed(pin.Allowed, e) {
					errs = append(errs, refuse(f.key, "names"))
					break
				}
			}
		}
	}
	return errors.Join(errs...)
}
