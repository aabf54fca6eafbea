// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// SeriesFile names the CSV file of a trigger's series; Trigger may be
// empty when the ScaledObject has one trigger.
type SeriesFile struct {
	Trigger string
	Path    string
}

// Options are what `ebb simulate` was asked.
type Options struct {
	// ScaledObject is the YAML file of the configuration to replay;
	// Compare, when set, is a second one replayed on the same series.
	ScaledObject string
	Compare      string
	Series       []SeriesFile
	// Prometheus, when its URL is set, fetches series by range queries.
	Prometheus PrometheusQuery
	Cluster    Cluster
	// Duration is how long to replay (0: to the last row of the series).
	Duration time.Duration
	// Plot, when set, is the PNG file to chart the run in.
	Plot string
	// Registry holds the trigger types the ScaledObjects may use.
	Registry *scalers.Registry
}

// Execute loads the inputs, replays each configuration and writes the
// report to w (and the chart to o.Plot).
func Execute(ctx context.Context, o Options, w io.Writer) ([]*Result, error) {
	if o.ScaledObject == "" {
		return nil, errors.New("no ScaledObject: expected the YAML file of one")
	}
	if o.Registry == nil {
		return nil, errors.New("no trigger types registered")
	}
	series := map[string]*Series{}
	var all []*Series
	for _, f := range o.Series {
		if _, dup := series[f.Trigger]; dup {
			if f.Trigger == "" {
				return nil, fmt.Errorf("--series %s: a second series without a trigger name: expected <trigger>=<file.csv> for each", f.Path)
			}
			return nil, fmt.Errorf("--series %s=%s: trigger %q has a series already", f.Trigger, f.Path, f.Trigger)
		}
		s, err := ReadSeriesFile(f.Path)
		if err != nil {
			return nil, err
		}
		series[f.Trigger] = s
		all = append(all, s)
	}
	if o.Prometheus.URL != "" {
		fetched, err := o.Prometheus.Fetch(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range fetched {
			if _, dup := series[s.trigger]; dup {
				return nil, fmt.Errorf("--query %s: trigger %q has a series already", s.trigger, s.trigger)
			}
			series[s.trigger] = s.Series
			all = append(all, s.Series)
		}
	}
	if len(all) == 0 {
		return nil, errors.New("no series: expected --series [<trigger>=]<file.csv> or --prometheus with --query")
	}
	if len(all) > 1 {
		if _, ok := series[""]; ok {
			return nil, errors.New("several series, one without a trigger name: expected <trigger>=<file.csv> for each")
		}
	}
	if _, err := Align(all); err != nil {
		return nil, err
	}

	files := []string{o.ScaledObject}
	if o.Compare != "" {
		files = append(files, o.Compare)
	}
	var results []*Result
	for _, path := range files {
		so, err := LoadScaledObject(path)
		if err != nil {
			return nil, err
		}
		sc, err := NewScenario(path, so, o.Registry, series)
		if err != nil {
			return nil, err
		}
		r, err := Run(sc, o.Cluster, o.Duration)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		results = append(results, r)
	}
	if err := Report(w, results); err != nil {
		return nil, err
	}
	if o.Plot != "" {
		if err := WritePlot(o.Plot, results); err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "\nChart written to %s\n", o.Plot)
	}
	return results, nil
}
