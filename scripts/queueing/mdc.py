"""The M/D/c queue, exactly: Poisson arrivals at rate lam, c servers, every service takes S,
first come first served. Standard library only (works with Debian's /usr/bin/python3).

  response_time_percentile(lam, c, S, q)  the q-quantile of the response time W + S
  rate_at_percentile(c, S, q, limit)      the rate at which that quantile equals `limit`
  waiting_time_cdf(lam, c, S, x)          P(W <= x)
  mean_waiting_time(lam, c, S)            E[W]

Method (exact up to a truncation error below 1e-13; no simulation):

1. The number in system at times 0, S, 2S, ... is a Markov chain: N' = max(N - c, 0) + A, A
   ~ Poisson(a), a = lam * S. Whoever is in service at t has left by t + S (service is S), and
   whoever waits at t starts within (t, t + S] and is still there at t + S. Its stationary law
   p is the law of N at any time, and by PASTA what an arrival sees (Crommelin, 1932).
2. p is solved on states 0..n by GTH state reduction (Grassmann, Taksar and Heyman, 1985):
   Gaussian elimination without subtraction, stable even as rho -> 1. The chain only falls by
   at most c a step and A is negligible beyond `width`, so elimination keeps a band and costs
   O(n * c * width). n is chosen from the geometric tail p_j ~ tau^-j (tau > 1 solves
   z^c = exp(a (z - 1))) so that the mass cut off is below 1e-15.
3. Waiting time. Take an arrival at t and count those present at t + x who arrived no later
   (itself included): under FCFS it has started service by t + x iff that count is <= c. Write
   x = kS + u, 0 <= u < S. Start at s = t + u - S: the V = max(N(s) - c, 0) waiting at s, the
   Poisson(lam (S - u)) arrivals in (s, t) and the arrival itself are all present at s + S;
   after that, c of them leave every S and no later arrival overtakes them. Hence
       P(W <= kS + u) = P(V + Poisson(lam (S - u)) + 1 <= (k + 1) c),
   with V and the Poisson count independent. At u = 0 this is Crommelin's
   P(W <= kS) = P(N <= (k + 1) c - 1). W has an atom P(N < c) at 0 and is continuous after.
4. Quantiles by bisection on x within the right interval [kS, (k + 1) S); the rate at a
   percentile by bisection on lam in (0, c / S), the quantile rising with lam.

tests/scripts/test_mdc.py checks this against the Pollaczek-Khinchine mean and against a
discrete-event simulation.
"""

import math

TAIL_MASS = 1e-15  # the stationary mass allowed beyond the truncated state space
MAX_WORK = 5e7  # states x c x width past which (rho very near 1) the chain is refused: ~15 s


def poisson_pmf(mean, count):
    """P(A = 0..count - 1) for A ~ Poisson(mean), by logarithms so a large mean cannot underflow
    the first terms to zero before the rest are reached."""
    if mean == 0:
        return [1.0] + [0.0] * (count - 1)
    log_mean = math.log(mean)
    return [math.exp(-mean + m * log_mean - math.lgamma(m + 1)) for m in range(count)]


def poisson_width(mean):
    """The largest Poisson(mean) value that matters: past it each term is below 1e-18, and the
    terms fall faster than geometrically, so the tail is too."""
    width = int(mean) + 1
    log_mean = math.log(mean)
    while -mean + width * log_mean - math.lgamma(width + 1) > math.log(1e-18):
        width += 1
    return width


def tail_root(a, c):
    """tau > 1 with c ln(tau) = a (tau - 1): the stationary law decays like tau^-j. The function
    is concave, zero at 1 and largest at c / a, so Newton from a point past the root where it is
    negative falls onto the root from above without overshooting."""
    def excess(z):
        return c * math.log(z) - a * (z - 1)

    tau = c / a
    while excess(tau) >= 0:
        tau = 1 + 2 * (tau - 1)
    for _ in range(200):
        step = excess(tau) / (c / tau - a)
        tau -= step
        if abs(step) < 1e-15 * tau:
            break
    return tau


def stationary_distribution(a, c):
    """p_j = P(N = j) at an arbitrary time, j = 0..n, for offered load a = lam * S < c."""
    if not 0 <= a < c:
        raise ValueError("M/D/c needs 0 <= lam * S < c (got a = %g, c = %d)" % (a, c))
    if a == 0:
        return [1.0]
    width = poisson_width(a)
    states = c + width + int(math.ceil(-math.log(TAIL_MASS) / math.log(tail_root(a, c))))
    if states * c * width > MAX_WORK:
        raise ValueError("rho = %.6f is too close to 1 to solve" % (a / c))
    return gth_solve(transition_rows(a, c, width, states), width)


def transition_rows(a, c, width, states):
    """Row i as (first column, probabilities): N' = max(i - c, 0) + A on states 0..states-1.
    A row spans up to column i + width so that the elimination's fill-in fits in it; the mass
    that would leave the last state stays in it."""
    pmf = poisson_pmf(a, width + 1)
    rows = []
    for i in range(states):
        first = max(i - c, 0)
        row = [0.0] * (min(i + width, states - 1) - first + 1)
        reachable = min(width + 1, states - first)
        row[:reachable] = pmf[:reachable]
        if reachable < width + 1:
            row[reachable - 1] += max(0.0, 1.0 - sum(pmf[:reachable]))
        rows.append((first, row))
    return rows


def gth_solve(rows, width):
    """The stationary vector of a banded stochastic matrix by GTH state reduction: states are
    censored out from the last one down (only rows within `width` below reach a state), then
    the probabilities are rebuilt from the first up. Rows of states already censored are not
    touched again, so the back pass reads them as they were."""
    lows = [first for first, _ in rows]
    cells = [row for _, row in rows]

    def leaving_downwards(k):  # the sum GTH uses instead of 1 - P[k][k]: no subtraction
        return sum(cells[k][:k - lows[k]])

    for k in range(len(rows) - 1, 0, -1):
        leaving = leaving_downwards(k)
        row_k, low_k = cells[k], lows[k]
        for i in range(max(0, k - width), k):
            row_i, low_i = cells[i], lows[i]
            share = row_i[k - low_i] / leaving
            if share:
                start, stop = low_k - low_i, k - low_i
                row_i[start:stop] = [x + share * y for x, y in zip(row_i[start:stop], row_k)]
    probs = [1.0]
    for k in range(1, len(rows)):
        into_k = sum(probs[i] * cells[i][k - lows[i]] for i in range(max(0, k - width), k))
        probs.append(into_k / leaving_downwards(k))
    total = sum(probs)
    return [p / total for p in probs]


class WaitingTime:
    """The law of the waiting time W for one (lam, c, S): the stationary law solved once, then
    P(W <= x) for any x by step 3 of the module's method."""

    def __init__(self, lam, c, service_s):
        if c < 1 or service_s <= 0 or lam < 0:
            raise ValueError("M/D/c needs c >= 1, S > 0 and lam >= 0")
        self.lam, self.c, self.service_s = lam, c, service_s
        probs = stationary_distribution(lam * service_s, c)
        # V = max(N - c, 0), the number waiting, as a cumulative table.
        waiting = [sum(probs[:c + 1])] + probs[c + 1:]
        self.waiting_cdf = []
        running = 0.0
        for prob in waiting:
            running += prob
            self.waiting_cdf.append(running)

    def no_wait(self):
        """P(W = 0) = P(N < c)."""
        return self.cdf(0.0)

    def cdf(self, x):
        """P(W <= x)."""
        if x < 0:
            return 0.0
        slots, into_slot = divmod(x, self.service_s)
        allowed = (int(slots) + 1) * self.c - 1  # V + arrivals in (s, t) may be at most this
        if allowed < 0:
            return 0.0
        arrivals = poisson_pmf(self.lam * (self.service_s - into_slot), allowed + 1)
        last = len(self.waiting_cdf) - 1
        return min(1.0, sum(prob * self.waiting_cdf[min(allowed - m, last)]
                            for m, prob in enumerate(arrivals)))

    def quantile(self, q):
        """The smallest x with P(W <= x) >= q: 0 inside the atom, else by bisection within the
        interval [kS, (k + 1)S) where the distribution function crosses q."""
        if not 0 < q < 1:
            raise ValueError("the quantile needs 0 < q < 1")
        if self.no_wait() >= q:
            return 0.0
        slots = 0
        while self.cdf((slots + 1) * self.service_s) < q:
            slots += 1
        low, high = slots * self.service_s, (slots + 1) * self.service_s
        while high - low > 1e-12 * high:
            middle = (low + high) / 2
            if self.cdf(middle) >= q:
                high = middle
            else:
                low = middle
        return high

    def mean(self):
        """E[W] = E[V] / lam by Little's law (V the number waiting at an arbitrary time)."""
        if self.lam == 0:
            return 0.0
        waiting_mean = sum(1.0 - cdf for cdf in self.waiting_cdf[:-1])
        return waiting_mean / self.lam


def waiting_time_cdf(lam, c, service_s, x):
    return WaitingTime(lam, c, service_s).cdf(x)


def mean_waiting_time(lam, c, service_s):
    return WaitingTime(lam, c, service_s).mean()


def response_time_percentile(lam, c, service_s, q):
    """The q-quantile (0 < q < 1, e.g. 0.99) of the response time W + S, in the unit of S."""
    return service_s + WaitingTime(lam, c, service_s).quantile(q)


def rate_at_percentile(c, service_s, q, limit, relative_precision=1e-6):
    """The arrival rate (per unit of S) at which the q-quantile of the response time equals
    `limit`: the quantile rises with lam, from S at lam -> 0 to infinity at lam -> c / S. With
    limit <= S no rate meets it and 0 is returned. Rates too close to c / S to solve count as
    above the limit (their quantiles are enormous)."""
    if limit <= service_s:
        return 0.0
    low, high = 0.0, c / service_s
    while high - low > relative_precision * high:
        middle = (low + high) / 2
        try:
            meets = response_time_percentile(middle, c, service_s, q) <= limit
        except ValueError:
            meets = False
        if meets:
            low = middle
        else:
            high = middle
    return (low + high) / 2
