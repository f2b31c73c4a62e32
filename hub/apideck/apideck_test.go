package apideck

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/store"
)

func TestSessionLength(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int
		err  string
	}{
		{in: "1h", want: 3600},
		{in: "30m", want: 1800},
		{in: "90s", want: 90},
		{in: "1d", want: 86400},
		{in: "2d", err: "at most 24h"},
		{in: "1w", err: "at most 24h"},
		{in: "1y", err: "unit"},
		{in: "h", err: "number"},
		{in: "0h", err: "number"},
		{in: "", err: "empty"},
	} {
		got, err := sessionLength(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestDisabledReasonIsApideckEnum(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		store.DisabledNone: "none", store.DisabledRetryLimit: "retry_limit",
		store.DisabledGone: "delivery_url_validation_failed", store.DisabledManual: "none", "": "none",
	} {
		assert.Equal(t, want, disabledReason(in), in)
	}
}

func TestAPIName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "Accounting", apiName("accounting"))
	assert.Equal(t, "CRM", apiName("crm"))
	assert.Equal(t, "Issue Tracking", apiName("issue-tracking"))
}

func TestParseLogFilter(t *testing.T) {
	t.Parallel()
	gin.SetMode(gin.ReleaseMode)
	parse := func(query string) (*logFilter, error) {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodGet, "/apideck/webhook/logs?"+query, nil)
		return parseLogFilter(c)
	}
	f, err := parse("filter[service][id]=dversum&filter[exclude_apis]=crm,%20hris&filter[status_codes]=200&filter[status_codes]=404" +
		"&filter[start_date]=2024-01-15T10:30:00Z&filter[execution_attempt]=2&filter[success]=false&filter[entity_type]=invoice&cursor=x&limit=5")
	require.NoError(t, err)
	assert.Equal(t, "dversum", f.store.ServiceID)
	assert.Equal(t, []string{"crm", "hris"}, f.excludeAPIs)
	assert.Equal(t, []int{200, 404}, f.statusCodes)
	assert.Equal(t, 2, *f.attempt)
	assert.False(t, *f.store.Success)
	assert.Equal(t, "invoice", f.entityType)
	assert.True(t, f.needsEvent())

	for query, field := range map[string]string{
		"filter[service_id]=x":             "filter[service_id]",
		"filter[start_date]=yesterday":     "filter[start_date]",
		"filter[status_code]=ok":           "filter[status_code]",
		"filter[execution_attempt]=0":      "filter[execution_attempt]",
		"filter[success]=maybe":            "filter[success]",
		"filter[subscription_id]=01900000": "filter[subscription_id]",
	} {
		_, err := parse(query)
		var apiErr *api.Error
		require.ErrorAs(t, err, &apiErr, query)
		assert.Equal(t, http.StatusBadRequest, apiErr.Status, query)
		assert.Contains(t, apiErr.Message, field, query)
	}
}

func TestLogCursorRoundTrip(t *testing.T) {
	t.Parallel()
	dir, id, err := decodeLogCursor(encodeLogCursor("b", "01900000-0000-7000-8000-000000000000"))
	require.NoError(t, err)
	assert.Equal(t, "b", dir)
	assert.Equal(t, "01900000-0000-7000-8000-000000000000", id)
	for _, bad := range []string{"", "x", encodeLogCursor("z", "id"), encodeLogCursor("a", "")} {
		_, _, err := decodeLogCursor(bad)
		assert.Error(t, err, bad)
	}
}
