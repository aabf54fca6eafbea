// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestEachModeReadsItsValueFromTheQueuesStatistics(t *testing.T) {
	stats := func(messages, publish, deliver float64, rates bool) queueStats {
		q := queueStats{Name: "q", Messages: &messages, MessagesReady: &messages}
		if rates {
			q.MessageStats = &struct {
				PublishDetails    *rateDetails `json:"publish_details"`
				DeliverGetDetails *rateDetails `json:"deliver_get_details"`
			}{&rateDetails{publish}, &rateDetails{deliver}}
		}
		return q
	}
	for name, tc := range map[string]struct {
		mode string
		q    queueStats
		want float64
	}{
		"MessageRate is the publish rate":                                 {modeMessageRate, stats(10, 4, 2, true), 4},
		"DeliverGetRate is the deliver-or-get rate":                       {modeDeliverGetRate, stats(10, 4, 2, true), 2},
		"PublishedToDeliveredRatio divides the two":                       {modeRatio, stats(10, 4, 2, true), 2},
		"PublishedToDeliveredRatio with nothing delivered counts 1 msg/s": {modeRatio, stats(10, 4, 0, true), 4},
		"PublishedToDeliveredRatio with nothing published is 0":           {modeRatio, stats(10, 0, 0, true), 0},
		"ExpectedQueueConsumptionTime is messages over the deliver rate":  {modeConsumptionTime, stats(10, 4, 2, true), 5},
		"ExpectedQueueConsumptionTime of an empty queue is 0":             {modeConsumptionTime, stats(0, 4, 0, true), 0},
		"ExpectedQueueConsumptionTime with no consumer counts 1 msg/s":    {modeConsumptionTime, stats(10, 0, 0, false), 10},
		"a rate the broker does not report is 0":                          {modeDeliverGetRate, stats(10, 0, 0, false), 0},
	} {
		t.Run(name, func(t *testing.T) {
			p := &plan{mode: tc.mode}
			got, err := p.valueOf(tc.q)
			if err != nil || got != tc.want {
				t.Errorf("valueOf = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// Against the real broker: a queue with a backlog, a publisher and a slower
// consumer. Every rate mode reads what the management API reports.
func TestTheRateModesReadTheRealBrokersStatistics(t *testing.T) {
	requireManagement(t)
	a := newAdmin(t)
	q := a.queueWithStats("modes")
	a.publish(q, 200)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	ch, err := a.conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.publishEvery(ctx, &wg, q, 100*time.Millisecond) // about 10 messages a second
	wg.Add(1)
	go func() { // take about 20 a second
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case d := <-deliveries:
				<-tick.C
				_ = d.Ack(false)
			}
		}
	}()
	typ := NewType()
	read := func(mode string) func() (bool, string) {
		sc := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": mgmtURL, "queueName": q, "mode": mode, "value": "1"}, nil))
		return func() (bool, string) {
			r, err := scalertest.Read(sc)
			if err != nil {
				return false, err.Error()
			}
			return r.Value > 0 && r.Active, mode + " " + ftoa(r.Value)
		}
	}
	scalertest.Eventually(t, 45*time.Second, "DeliverGetRate to be above 0", read(modeDeliverGetRate))
	scalertest.Eventually(t, 45*time.Second, "PublishedToDeliveredRatio to be above 0", read(modeRatio))
	scalertest.Eventually(t, 45*time.Second, "ExpectedQueueConsumptionTime to be above 0", read(modeConsumptionTime))
}
