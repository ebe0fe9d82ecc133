// The untyped engine of Cache<V> (strata/cache/internal/tiered_core.h): key checks, stripe
// generations, counters, TTL jitter and envelope times, the verdict on L2 values, the L2 write
// protocol, refresh claims and the single-flight table.
#include "strata/cache/internal/tiered_core.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "strata/error.h"

namespace strata::internal {

struct Flight {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::shared_ptr<const void> value;
  std::exception_ptr error;
};

struct TieredCacheCore::Impl {
  std::mutex flights_mutex;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights;
  std::mutex refreshing_mutex;
  std::unordered_set<std::string> refreshing;
  std::mutex xfetch_mutex;
  std::mt19937_64 xfetch_rng;
};

namespace {

// At most 64 bytes of a key, non-printable bytes escaped (\xNN), for error messages.
std::string printable(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < key.size() && i < 64; ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (key.size() > 64) out += "...";
  return out;
}

}  // namespace

TieredCacheStats CacheCounters::snapshot(const RemoteStore* l2, bool l1_enabled) const {
  const auto load = [](const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
  };
  TieredCacheStats s;
  if (l1_enabled) {
    s.l1.enabled = true;
    s.l1.hits = load(l1_hits);
    s.l1.misses = load(l1_misses);
  }
  if (l2 != nullptr) {
    const RemoteCounters r = l2->counters();
    s.l2.enabled = true;
    s.l2.hits = r.hits;
    s.l2.misses = r.misses;
    s.l2.errors = r.errors;
    if (r.errors > 0) s.l2.last_error = l2->last_error();
    s.l2.short_circuited = r.short_circuited;
    s.l2.corrupted = r.corrupted;
    s.l2.foreign = load(l2_foreign);
    s.l2.fills = r.fills;
    s.l2.fills_skipped = r.fills_skipped;
    s.l2.writes = r.writes;
    s.l2.write_failures = load(l2_write_failures);
    s.l2.deletes = r.deletes;
    s.l2.deletes_deferred = r.deletes_deferred;
    s.l2.deletes_replayed = r.deletes_replayed;
    s.l2.deletes_dropped = r.deletes_dropped;
    s.l2.breaker = l2->breaker_state();
    s.l2.breaker_opens = l2->breaker_opens();
  }
  s.source.loads = load(source_loads);
  s.source.not_found = load(source_not_found);
  s.source.load_errors = load(source_load_errors);
  s.source.writes = load(source_writes);
  s.source.write_errors = load(source_write_errors);
  s.negative_hits = load(negative_hits);
  s.refreshes_scheduled = load(refreshes_scheduled);
  s.refreshes = load(refreshes);
  s.refresh_failures = load(refresh_failures);
  s.write_behind_enqueued = load(write_behind_enqueued);
  s.write_behind_pending_reads = load(write_behind_pending_reads);
  s.stampede.lease_acquired = load(lease_acquired);
  s.stampede.lease_waits = load(lease_waits);
  s.stampede.lease_wait_hits = load(lease_wait_hits);
  s.stampede.lease_timeouts = load(lease_timeouts);
  s.stampede.stale_served = load(stale_served);
  s.stampede.stale_if_error_served = load(stale_if_error_served);
  s.stampede.early_refreshes = load(early_refreshes);
  s.stampede.single_flight_waits = load(single_flight_waits);
  return s;
}

TieredCacheCore::TieredCacheCore(CoreOptions options, std::unique_ptr<RemoteStore> l2,
                                 std::weak_ptr<Executor> executor)
    : o_(std::move(options)),
      l2_(std::move(l2)),
      executor_(std::move(executor)),
      impl_(std::make_unique<Impl>()) {
  impl_->xfetch_rng.seed(o_.xfetch && o_.xfetch->seed != 0 ? o_.xfetch->seed
                                                           : std::random_device{}());
}

TieredCacheCore::~TieredCacheCore() = default;

void TieredCacheCore::check_key(std::string_view key) const {
  if (key.empty()) throw InvalidArgumentError("Cache: keys must not be empty");
  if (key.size() > o_.max_key_size) {
    throw InvalidArgumentError("Cache: key of " + std::to_string(key.size()) +
                               " bytes exceeds max_key_size " + std::to_string(o_.max_key_size));
  }
}

std::size_t TieredCacheCore::stripe_index(std::string_view key) {
  return std::hash<std::string_view>{}(key) % kStripes;
}

std::uint64_t TieredCacheCore::generation(std::string_view key) {
  Stripe& stripe = stripe_for(key);
  std::lock_guard lock(stripe.mutex);
  return stripe.generation;
}

void TieredCacheCore::bump_all_generations() {
  for (Stripe& stripe : stripes_) {
    std::lock_guard lock(stripe.mutex);
    ++stripe.generation;
  }
  std::lock_guard lock(impl_->flights_mutex);
  impl_->flights.clear();  // every flight detached (see detach_flight)
}

void TieredCacheCore::detach_flight(std::string_view key) {
  std::lock_guard lock(impl_->flights_mutex);
  if (const auto it = impl_->flights.find(std::string(key)); it != impl_->flights.end()) {
    impl_->flights.erase(it);
  }
}

std::unique_lock<std::mutex> TieredCacheCore::lock_writes(std::string_view key) {
  return std::unique_lock<std::mutex>(write_locks_[stripe_index(key)]);
}

std::vector<std::unique_lock<std::mutex>> TieredCacheCore::lock_writes_many(
    std::span<const std::string> keys) {
  std::vector<std::size_t> stripes;
  stripes.reserve(keys.size());
  for (const auto& key : keys) stripes.push_back(stripe_index(key));
  std::sort(stripes.begin(), stripes.end());
  stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(stripes.size());
  for (const std::size_t i : stripes) locks.emplace_back(write_locks_[i]);
  return locks;
}

EnvelopeTime TieredCacheCore::wall_now() const {
  using std::chrono::microseconds;
  if (o_.clock_injected) {
    return EnvelopeTime(std::chrono::duration_cast<microseconds>(o_.clock->now()));
  }
  return std::chrono::time_point_cast<microseconds>(std::chrono::system_clock::now());
}

std::chrono::milliseconds TieredCacheCore::jittered_l2_ttl() {
  if (o_.l2_ttl_jitter <= 0) return o_.l2_ttl;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> share(0.0, o_.l2_ttl_jitter);
  const auto cut = static_cast<std::int64_t>(static_cast<double>(o_.l2_ttl.count()) * share(rng));
  return std::max(std::chrono::milliseconds(1), o_.l2_ttl - std::chrono::milliseconds(cut));
}

EnvelopeTimes TieredCacheCore::times_for(std::chrono::nanoseconds compute_time,
                                         std::chrono::milliseconds ttl) const {
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  const EnvelopeTime now = wall_now();
  EnvelopeTimes times;
  times.computed_at = now;
  if (o_.refresh_after) times.soft_expiry = now + duration_cast<microseconds>(*o_.refresh_after);
  times.hard_expiry = now + duration_cast<microseconds>(ttl);
  times.compute_time = duration_cast<microseconds>(compute_time);
  return times;
}

bool TieredCacheCore::soft_expired(const std::optional<EnvelopeTimes>& times) const {
  return o_.refresh_after && times && times->soft_expiry && *times->soft_expiry <= wall_now();
}

bool TieredCacheCore::hard_expired(const std::optional<EnvelopeTimes>& times) const {
  return times && times->hard_expiry && *times->hard_expiry <= wall_now();
}

std::optional<std::chrono::nanoseconds> TieredCacheCore::l1_ttl_cap(
    const std::optional<EnvelopeTimes>& times, std::chrono::nanoseconds l1_ttl) const {
  if (!times || !times->hard_expiry) return std::nullopt;
  const auto left =
      std::chrono::duration_cast<std::chrono::nanoseconds>(*times->hard_expiry - wall_now());
  if (l1_ttl > std::chrono::nanoseconds::zero() && left >= l1_ttl) return std::nullopt;
  return std::max(left, std::chrono::nanoseconds(1));
}

bool TieredCacheCore::within_stale_if_error(const std::optional<EnvelopeTimes>& times) const {
  return o_.stale_if_error > std::chrono::milliseconds::zero() && times && times->hard_expiry &&
         wall_now() - *times->hard_expiry <= o_.stale_if_error;
}

double TieredCacheCore::xfetch_random() {
  if (o_.xfetch->random) return o_.xfetch->random();
  std::lock_guard lock(impl_->xfetch_mutex);
  return 1.0 - std::uniform_real_distribution<double>(0.0, 1.0)(impl_->xfetch_rng);
}

RemoteVerdict TieredCacheCore::judge(const std::optional<EnvelopeTimes>& times, bool owned) {
  if (hard_expired(times)) return RemoteVerdict::kHardExpired;
  if (!owned) return RemoteVerdict::kFresh;  // only the owned loader refreshes
  if (soft_expired(times)) {
    CacheCounters::bump(counters_.stale_served);
    return RemoteVerdict::kStale;
  }
  if (o_.xfetch && times && times->hard_expiry &&
      xfetch_should_refresh(wall_now().time_since_epoch(), times->hard_expiry->time_since_epoch(),
                            times->compute_time, o_.xfetch->beta, xfetch_random())) {
    CacheCounters::bump(counters_.early_refreshes);
    return RemoteVerdict::kEarly;
  }
  return RemoteVerdict::kFresh;
}

bool TieredCacheCore::undecodable(std::string_view key) {
  if (o_.plain) {
    CacheCounters::bump(counters_.l2_foreign);
    if (!o_.delete_foreign) return true;
    (void)l2_->remove(key);
    return false;
  }
  l2_->drop_corrupted(key);
  return false;
}

void TieredCacheCore::fill(std::string_view key, const std::optional<std::string>& token,
                           std::string_view bytes, std::chrono::milliseconds ttl) {
  if (!l2_ || (o_.guarded_fills && !token)) return;
  if (bytes.size() > o_.max_value_size) {  // too large for L2: served from L1/source
    abandon_fill(key, token);
    return;
  }
  (void)l2_->fill(key, token, bytes, ttl + o_.stale_if_error);
}

void TieredCacheCore::fill_negative(std::string_view key, const std::optional<std::string>& token) {
  if (!l2_ || (o_.guarded_fills && !token)) return;
  if (!o_.negative_ttl) {
    abandon_fill(key, token);
    return;
  }
  (void)l2_->fill(key, token, kNegativeMarker, *o_.negative_ttl);
}

void TieredCacheCore::abandon_fill(std::string_view key, const std::optional<std::string>& token) {
  if (l2_ && token) l2_->abandon_fill(key, *token);
}

bool TieredCacheCore::write(std::string_view key, std::string_view bytes,
                            std::chrono::milliseconds ttl) {
  if (l2_->write(key, bytes, ttl + o_.stale_if_error)) return true;
  CacheCounters::bump(counters_.l2_write_failures);
  (void)l2_->remove(key);  // deferred if L2 is unreachable
  return false;
}

void TieredCacheCore::write_tombstone(std::string_view key) {
  if (!l2_) return;
  if (!l2_->write(key, kNegativeMarker, jittered_l2_ttl())) {
    CacheCounters::bump(counters_.l2_write_failures);
    (void)l2_->remove(key);  // deferred if L2 is unreachable
  }
}

void TieredCacheCore::check_value_size(std::string_view key, std::size_t bytes) const {
  if (bytes > o_.max_value_size) {
    throw InvalidArgumentError("Cache: value of key '" + printable(key) + "' encodes to " +
                               std::to_string(bytes) + " bytes, over max_value_size " +
                               std::to_string(o_.max_value_size));
  }
}

bool TieredCacheCore::claim_local_refresh(std::string_view key) {
  std::lock_guard lock(impl_->refreshing_mutex);
  return impl_->refreshing.insert(std::string(key)).second;
}

void TieredCacheCore::release_local_refresh(std::string_view key) {
  std::lock_guard lock(impl_->refreshing_mutex);
  impl_->refreshing.erase(std::string(key));
}

bool TieredCacheCore::schedule(std::function<void()> task) {
  const std::shared_ptr<Executor> executor = executor_.lock();
  if (!executor) return false;
  CacheCounters::bump(counters_.refreshes_scheduled);
  executor->execute(std::move(task));
  return true;
}

std::vector<TieredCacheCore::FlightClaim> TieredCacheCore::claim_flights(
    std::span<const std::string> keys) {
  std::vector<FlightClaim> claims(keys.size());
  std::size_t waits = 0;
  {
    std::lock_guard lock(impl_->flights_mutex);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      auto [it, inserted] = impl_->flights.try_emplace(keys[i]);
      if (inserted) {
        it->second = std::make_shared<Flight>();
        claims[i].leader = true;
      } else {
        ++waits;
      }
      claims[i].flight = it->second;
    }
  }
  if (waits) counters_.single_flight_waits.fetch_add(waits, std::memory_order_relaxed);
  return claims;
}

void TieredCacheCore::complete_flight(std::string_view key, const std::shared_ptr<Flight>& flight,
                                      std::shared_ptr<const void> value,
                                      std::exception_ptr error) noexcept {
  {
    std::lock_guard lock(impl_->flights_mutex);
    const auto it = impl_->flights.find(std::string(key));
    if (it != impl_->flights.end() && it->second == flight) impl_->flights.erase(it);
  }
  {
    std::lock_guard lock(flight->mutex);
    flight->value = std::move(value);
    flight->error = std::move(error);
    flight->done = true;
  }
  flight->done_cv.notify_all();
}

std::shared_ptr<const void> TieredCacheCore::await_flight(const std::shared_ptr<Flight>& flight) {
  std::unique_lock lock(flight->mutex);
  flight->done_cv.wait(lock, [&] { return flight->done; });
  if (flight->error) std::rethrow_exception(flight->error);
  return flight->value;
}

std::shared_ptr<const void> TieredCacheCore::single_flight(
    std::string_view key, const std::function<std::shared_ptr<const void>()>& load) {
  const std::string owned_key(key);
  FlightClaim claim = std::move(claim_flights(std::span<const std::string>(&owned_key, 1))[0]);
  if (!claim.leader) return await_flight(claim.flight);
  std::shared_ptr<const void> value;
  std::exception_ptr error;
  try {
    value = load();
  } catch (...) {
    error = std::current_exception();
  }
  complete_flight(key, claim.flight, value, error);
  if (error) std::rethrow_exception(error);
  return value;
}

}  // namespace strata::internal
