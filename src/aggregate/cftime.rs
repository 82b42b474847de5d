//! CF-conventions time coordinates: calendars, `<unit> since <date>` units and
//! exact re-encoding of time values between units.
//!
//! When files are concatenated along time, each one may carry its own units
//! (`days since 1998-01-01` in one, `days since 2001-01-01` in the next). The
//! aggregated variable can only have one `units` attribute, so every file's
//! values are decoded with their own units and re-encoded in the first file's
//! units. Readers (xarray through cftime or numpy `datetime64`) must then see
//! exactly the dates they would have seen file by file, which is why all
//! calendar arithmetic here is done in integer microseconds and floating
//! point only appears at the edges.
//!
//! Years are astronomical in every calendar: year 0 exists and year -1 is the
//! one before it. cftime agrees for `proleptic_gregorian`, `noleap`,
//! `all_leap` and `360_day`, but for `standard` and `julian` it skips year 0
//! (1 BC is year -1), so dates before year 1 in those two calendars are
//! labelled one year differently from cftime. Differences between dates, and
//! therefore re-encoding, are unaffected as long as both sides use this module.

use std::fmt;

const US_PER_SECOND: i64 = 1_000_000;
const US_PER_MINUTE: i64 = 60 * US_PER_SECOND;
const US_PER_HOUR: i64 = 60 * US_PER_MINUTE;
const US_PER_DAY: i64 = 24 * US_PER_HOUR;

/// Cumulative days before each month, plus the year length, without and with 29 February.
const CUMULATIVE_DAYS: [[i128; 13]; 2] = [[0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365], [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366]];

/// Day number (days since Gregorian 1970-01-01) of Gregorian 1582-10-15, the
/// first day of the Gregorian reform used by the `standard` calendar.
const GREGORIAN_REFORM_DAY: i128 = -141_427;

/// Julian 1970-01-01 falls on Gregorian 1970-01-14; the `julian` calendar is
/// counted from its own 1970-01-01 so that every calendar shares the epoch label.
const JULIAN_CALENDAR_EPOCH_DAY: i128 = 13;

/// A CF `calendar` attribute value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Calendar {
    /// Julian before 1582-10-15, Gregorian from then on (CF's default).
    #[default]
    Standard,
    ProlepticGregorian,
    NoLeap,
    AllLeap,
    Day360,
    Julian,
}

impl Calendar {
    pub const ALL: [Calendar; 6] = [Calendar::Standard, Calendar::ProlepticGregorian, Calendar::NoLeap, Calendar::AllLeap, Calendar::Day360, Calendar::Julian];

    /// Parse a CF calendar attribute, case-insensitive: `standard`/`gregorian` -> Standard,
    /// `proleptic_gregorian`, `noleap`/`365_day`, `all_leap`/`366_day`, `360_day`, `julian`.
    /// None for anything else (`none` included).
    pub fn parse(s: &str) -> Option<Calendar> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standard" | "gregorian" => Some(Calendar::Standard),
            "proleptic_gregorian" => Some(Calendar::ProlepticGregorian),
            "noleap" | "365_day" => Some(Calendar::NoLeap),
            "all_leap" | "366_day" => Some(Calendar::AllLeap),
            "360_day" => Some(Calendar::Day360),
            "julian" => Some(Calendar::Julian),
            _ => None,
        }
    }

    /// The canonical CF spelling, suitable for writing back as an attribute.
    pub fn name(self) -> &'static str {
        match self {
            Calendar::Standard => "standard",
            Calendar::ProlepticGregorian => "proleptic_gregorian",
            Calendar::NoLeap => "noleap",
            Calendar::AllLeap => "all_leap",
            Calendar::Day360 => "360_day",
            Calendar::Julian => "julian",
        }
    }

    /// Length of `month` (1..=12) in `year`, or None for a month out of range.
    ///
    /// For `standard`, 1582 and earlier follow the Julian leap rule; the ten
    /// days missing from October 1582 are rejected separately.
    pub fn days_in_month(self, year: i64, month: u32) -> Option<u32> {
        if !(1..=12).contains(&month) {
            return None;
        }
        if self == Calendar::Day360 {
            return Some(30);
        }
        let leap = match self {
            Calendar::NoLeap | Calendar::Day360 => false,
            Calendar::AllLeap => true,
            Calendar::Julian => is_julian_leap(year),
            Calendar::Standard if year <= 1582 => is_julian_leap(year),
            Calendar::Standard | Calendar::ProlepticGregorian => is_gregorian_leap(year),
        };
        let table = &CUMULATIVE_DAYS[usize::from(leap)];
        let m = month as usize;
        Some((table[m] - table[m - 1]) as u32)
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A calendar date and time of day, interpreted in some [`Calendar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub microsecond: u32,
}

impl DateTime {
    /// Midnight at the start of the given day.
    pub fn date(year: i64, month: u32, day: u32) -> DateTime {
        DateTime { year, month, day, hour: 0, minute: 0, second: 0, microsecond: 0 }
    }
}

impl fmt::Display for DateTime {
    /// `YYYY-MM-DD HH:MM:SS`, with `.ffffff` only when there are microseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.year < 0 {
            write!(f, "-{:04}", self.year.unsigned_abs())?;
        } else {
            write!(f, "{:04}", self.year)?;
        }
        write!(f, "-{:02}-{:02} {:02}:{:02}:{:02}", self.month, self.day, self.hour, self.minute, self.second)?;
        if self.microsecond != 0 {
            write!(f, ".{:06}", self.microsecond)?;
        }
        Ok(())
    }
}

/// Parsed `<unit> since <reference>` time units.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeUnits {
    /// Microseconds per unit.
    pub unit_us: i64,
    /// The reference instant, already shifted to UTC by `tz_offset_minutes`.
    pub reference: DateTime,
    /// The UTC offset written in the units string (informational: it has
    /// already been applied to `reference`).
    pub tz_offset_minutes: i32,
    pub calendar: Calendar,
}

impl TimeUnits {
    /// The reference instant in microseconds since 1970-01-01 of `calendar`.
    pub fn reference_us(&self) -> Result<i128, String> {
        datetime_to_us(self.calendar, &self.reference)
    }

    fn checked_unit(&self) -> Result<i128, String> {
        if self.unit_us > 0 {
            Ok(i128::from(self.unit_us))
        } else {
            Err(format!("time unit must be a positive number of microseconds, got {}", self.unit_us))
        }
    }
}

/// Parse "<unit> since <date>[ <time>][ <tz>]" (case-insensitive).
///
/// Month and year units are rejected because their length depends on the
/// calendar and on who is reading (udunits and cftime disagree). The result's
/// `reference` is normalised to UTC.
pub fn parse_units(units: &str, calendar: Calendar) -> Result<TimeUnits, String> {
    let lower = units.to_ascii_lowercase();
    let tokens: Vec<&str> = lower.split_whitespace().collect();
    let since = tokens.iter().position(|&t| t == "since");
    let (unit, reference) = match since {
        Some(1) if tokens.len() > 2 => (tokens[0], &tokens[2..]),
        _ => return Err(format!("time units {units:?} are not of the form '<unit> since <reference date>'")),
    };
    let unit_us = parse_unit(unit).map_err(|e| format!("time units {units:?}: {e}"))?;
    let (local, tz_offset_minutes) = parse_reference(reference).map_err(|e| format!("time units {units:?}: invalid reference date: {e}"))?;
    let local_us = datetime_to_us(calendar, &local).map_err(|e| format!("time units {units:?}: invalid reference date: {e}"))?;
    let utc_us = local_us - i128::from(tz_offset_minutes) * i128::from(US_PER_MINUTE);
    Ok(TimeUnits { unit_us, reference: us_to_datetime(calendar, utc_us), tz_offset_minutes, calendar })
}

fn parse_unit(unit: &str) -> Result<i64, String> {
    match unit {
        "microseconds" | "microsecond" | "us" | "usec" | "usecs" => Ok(1),
        "milliseconds" | "millisecond" | "ms" | "msec" | "msecs" => Ok(1_000),
        "seconds" | "second" | "s" | "sec" | "secs" => Ok(US_PER_SECOND),
        "minutes" | "minute" | "min" | "mins" => Ok(US_PER_MINUTE),
        "hours" | "hour" | "h" | "hr" | "hrs" => Ok(US_PER_HOUR),
        "days" | "day" | "d" => Ok(US_PER_DAY),
        "months" | "month" | "years" | "year" | "yr" | "yrs" | "common_years" | "common_year" => Err(format!("'{unit}' has no fixed length and is not supported as a time unit")),
        _ => Err(format!("unknown time unit '{unit}'")),
    }
}

/// Parse the whitespace-split tokens after "since" into a local date-time and
/// its UTC offset in minutes.
fn parse_reference(tokens: &[&str]) -> Result<(DateTime, i32), String> {
    let (first, mut rest) = tokens.split_first().ok_or("missing reference date")?;
    // ISO 8601 glues date and time with 'T' (lower-cased by now); dates never contain it.
    let (date_part, glued_time) = match first.split_once('t') {
        Some((date, time)) => (date, Some(time)),
        None => (*first, None),
    };
    let (year, month, day) = parse_date(date_part)?;

    let time_token = match glued_time {
        Some(time) => Some(time),
        None => match rest.split_first() {
            Some((next, tail)) if next.starts_with(|c: char| c.is_ascii_digit()) => {
                rest = tail;
                Some(*next)
            }
            _ => None,
        },
    };

    let mut tz_text = None;
    let (hour, minute, second, microsecond) = match time_token {
        Some(token) => {
            // An offset may be glued to the time: "00:00:00Z", "12:00:00+05:30".
            let (time, tz) = match token.find(['+', '-', 'z']) {
                Some(i) => (&token[..i], Some(&token[i..])),
                None => (token, None),
            };
            tz_text = tz;
            parse_time(time)?
        }
        None => (0, 0, 0, 0),
    };

    match (tz_text, rest) {
        (_, []) => {}
        (None, [tz]) => tz_text = Some(*tz),
        _ => return Err(format!("unexpected trailing text '{}'", rest.join(" "))),
    }
    let tz_offset_minutes = tz_text.map_or(Ok(0), parse_tz_offset)?;

    let dt = DateTime { year, month, day, hour, minute, second, microsecond };
    Ok((dt, tz_offset_minutes))
}

/// `[+-]Y[-M[-D]]`; month and day default to 1 as in udunits and cftime.
fn parse_date(s: &str) -> Result<(i64, u32, u32), String> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut parts = body.split('-');
    let year: i64 = parse_digits(parts.next().unwrap_or_default(), "year")?;
    let month = parts.next().map_or(Ok(1), |p| parse_digits(p, "month"))?;
    let day = parts.next().map_or(Ok(1), |p| parse_digits(p, "day"))?;
    if parts.next().is_some() {
        return Err(format!("malformed date '{s}'"));
    }
    Ok((if negative { -year } else { year }, month, day))
}

/// `H[:M[:S[.f]]]`; sub-microsecond digits are dropped.
fn parse_time(s: &str) -> Result<(u32, u32, u32, u32), String> {
    let mut parts = s.split(':');
    let hour = parse_digits(parts.next().unwrap_or_default(), "hour")?;
    let minute = parts.next().map_or(Ok(0), |p| parse_digits(p, "minute"))?;
    let (second, microsecond) = match parts.next() {
        None => (0, 0),
        Some(p) => {
            let (whole, fraction) = p.split_once('.').unwrap_or((p, ""));
            if !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("malformed fractional seconds '{p}'"));
            }
            let micro = fraction.bytes().chain(std::iter::repeat(b'0')).take(6).fold(0, |acc, b| acc * 10 + u32::from(b - b'0'));
            (parse_digits(whole, "second")?, micro)
        }
    };
    if parts.next().is_some() {
        return Err(format!("malformed time '{s}'"));
    }
    Ok((hour, minute, second, microsecond))
}

/// "Z", "UTC", "GMT", or `[+-]H[:MM]` / `[+-]HHMM`, as minutes east of UTC.
fn parse_tz_offset(s: &str) -> Result<i32, String> {
    if matches!(s, "z" | "utc" | "gmt") {
        return Ok(0);
    }
    let (sign, body) = match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let (hours, minutes): (i32, i32) = match body.split_once(':') {
        Some((h, m)) => (parse_digits(h, "UTC offset")?, parse_digits(m, "UTC offset")?),
        None if body.len() == 4 => (parse_digits(&body[..2], "UTC offset")?, parse_digits(&body[2..], "UTC offset")?),
        None if body.len() <= 2 => (parse_digits(body, "UTC offset")?, 0),
        None => return Err(format!("malformed UTC offset '{s}'")),
    };
    if hours > 23 || minutes > 59 {
        return Err(format!("UTC offset '{s}' out of range"));
    }
    Ok(sign * (hours * 60 + minutes))
}

/// Unsigned decimal digits only: `str::parse` alone would also accept a sign.
fn parse_digits<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("malformed {what} '{s}'"));
    }
    s.parse().map_err(|_| format!("{what} '{s}' out of range"))
}

fn is_julian_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0
}

fn is_gregorian_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

/// Index of a month counted from March, so that the leap day ends the year
/// and month lengths follow the fixed 153-days-per-5-months pattern.
fn days_before_march_month(month: u32, day: u32) -> i128 {
    let mp = (i128::from(month) + 9) % 12;
    (153 * mp + 2) / 5 + i128::from(day) - 1
}

fn month_day_from_march_day(doy: i128) -> (u32, u32, bool) {
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    (month, day, month <= 2)
}

/// Days since Gregorian 1970-01-01 (after Howard Hinnant's `days_from_civil`).
fn days_from_gregorian(year: i64, month: u32, day: u32) -> i128 {
    let y = i128::from(year) - i128::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + days_before_march_month(month, day);
    era * 146_097 + doe - 719_468
}

fn gregorian_from_days(days: i128) -> (i128, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let (month, day, next_year) = month_day_from_march_day(doe - (365 * yoe + yoe / 4 - yoe / 100));
    (era * 400 + yoe + i128::from(next_year), month, day)
}

/// Julian-calendar date to days since *Gregorian* 1970-01-01, i.e. on the
/// real timeline, which is what the `standard` calendar needs before 1582.
fn days_from_julian(year: i64, month: u32, day: u32) -> i128 {
    let y = i128::from(year) - i128::from(month <= 2);
    let cycle = y.div_euclid(4);
    let yoc = y - cycle * 4;
    cycle * 1_461 + yoc * 365 + days_before_march_month(month, day) - 719_470
}

fn julian_from_days(days: i128) -> (i128, u32, u32) {
    let z = days + 719_470;
    let cycle = z.div_euclid(1_461);
    let doc = z - cycle * 1_461;
    // The 366-day year is the last of the cycle, since it ends with 29 February.
    let yoc = (doc - doc / 1_460) / 365;
    let (month, day, next_year) = month_day_from_march_day(doc - 365 * yoc);
    (cycle * 4 + yoc + i128::from(next_year), month, day)
}

fn days_from_fixed_year(year: i64, month: u32, day: u32, leap: bool) -> i128 {
    let table = &CUMULATIVE_DAYS[usize::from(leap)];
    (i128::from(year) - 1970) * table[12] + table[month as usize - 1] + i128::from(day) - 1
}

fn fixed_year_from_days(days: i128, leap: bool) -> (i128, u32, u32) {
    let table = &CUMULATIVE_DAYS[usize::from(leap)];
    let doy = days.rem_euclid(table[12]);
    let month = (1..=12).rev().find(|&m| table[m - 1] <= doy).unwrap_or(1);
    (1970 + days.div_euclid(table[12]), month as u32, (doy - table[month - 1] + 1) as u32)
}

/// Days since 1970-01-01 of `cal` for a date already validated against `cal`.
fn days_from_date(cal: Calendar, year: i64, month: u32, day: u32) -> Result<i128, String> {
    Ok(match cal {
        Calendar::ProlepticGregorian => days_from_gregorian(year, month, day),
        Calendar::Julian => days_from_julian(year, month, day) - JULIAN_CALENDAR_EPOCH_DAY,
        Calendar::NoLeap => days_from_fixed_year(year, month, day, false),
        Calendar::AllLeap => days_from_fixed_year(year, month, day, true),
        Calendar::Day360 => (i128::from(year) - 1970) * 360 + i128::from(month - 1) * 30 + i128::from(day) - 1,
        Calendar::Standard => match (year, month, day) {
            d if d >= (1582, 10, 15) => days_from_gregorian(year, month, day),
            d if d <= (1582, 10, 4) => days_from_julian(year, month, day),
            _ => {
                return Err(format!(
                    "{year:04}-{month:02}-{day:02} falls in the 1582 Gregorian reform gap \
                     of the standard calendar"
                ))
            }
        },
    })
}

fn date_from_days(cal: Calendar, days: i128) -> (i128, u32, u32) {
    match cal {
        Calendar::ProlepticGregorian => gregorian_from_days(days),
        Calendar::Julian => julian_from_days(days + JULIAN_CALENDAR_EPOCH_DAY),
        Calendar::NoLeap => fixed_year_from_days(days, false),
        Calendar::AllLeap => fixed_year_from_days(days, true),
        Calendar::Day360 => {
            let doy = days.rem_euclid(360);
            (1970 + days.div_euclid(360), (doy / 30 + 1) as u32, (doy % 30 + 1) as u32)
        }
        Calendar::Standard if days >= GREGORIAN_REFORM_DAY => gregorian_from_days(days),
        Calendar::Standard => julian_from_days(days),
    }
}

/// Microseconds since 1970-01-01T00:00:00 in the given calendar.
///
/// `standard` is Julian before 1582-10-15 and Gregorian from then on, as in
/// cftime, so dates in the gap 1582-10-05..=14 are an error.
pub fn datetime_to_us(cal: Calendar, dt: &DateTime) -> Result<i128, String> {
    let month_len = cal.days_in_month(dt.year, dt.month).ok_or_else(|| format!("month {} out of range in {dt}", dt.month))?;
    if !(1..=month_len).contains(&dt.day) {
        return Err(format!("day {} out of range in {dt} ({cal} calendar)", dt.day));
    }
    if dt.hour > 23 || dt.minute > 59 || dt.second > 59 || dt.microsecond > 999_999 {
        return Err(format!("time of day out of range in {dt}"));
    }
    let days = days_from_date(cal, dt.year, dt.month, dt.day)?;
    let time_us = i128::from(dt.hour) * i128::from(US_PER_HOUR)
        + i128::from(dt.minute) * i128::from(US_PER_MINUTE)
        + i128::from(dt.second) * i128::from(US_PER_SECOND)
        + i128::from(dt.microsecond);
    Ok(days * i128::from(US_PER_DAY) + time_us)
}

/// The date-time `us` microseconds after 1970-01-01T00:00:00 of `cal`.
///
/// Years beyond the range of `i64` (only reachable from absurd inputs)
/// saturate.
pub fn us_to_datetime(cal: Calendar, us: i128) -> DateTime {
    let day_us = i128::from(US_PER_DAY);
    let (year, month, day) = date_from_days(cal, us.div_euclid(day_us));
    let time = us.rem_euclid(day_us) as i64;
    DateTime {
        year: i64::try_from(year).unwrap_or(if year < 0 { i64::MIN } else { i64::MAX }),
        month,
        day,
        hour: (time / US_PER_HOUR) as u32,
        minute: (time % US_PER_HOUR / US_PER_MINUTE) as u32,
        second: (time % US_PER_MINUTE / US_PER_SECOND) as u32,
        microsecond: (time % US_PER_SECOND) as u32,
    }
}

/// An integral `f64` as `i128`, if it is small enough that the integer
/// arithmetic built on it cannot plausibly overflow.
fn integral_to_i128(x: f64) -> Option<i128> {
    (x.abs() < 1e36).then_some(x as i128)
}

/// The instant (microseconds since 1970-01-01 in the units' calendar) of one
/// encoded value, rounded to the microsecond. None for non-finite values and
/// for magnitudes too large to be a date (such as a 9.96921e36 fill value).
pub fn decode(value: f64, units: &TimeUnits) -> Option<i128> {
    if !value.is_finite() {
        return None;
    }
    let unit = units.checked_unit().ok()?;
    let reference = units.reference_us().ok()?;
    // The integral part is scaled exactly; only the fraction can round.
    let whole = value.trunc();
    let fraction_us = ((value - whole) * units.unit_us as f64).round() as i128;
    integral_to_i128(whole)?.checked_mul(unit)?.checked_add(fraction_us)?.checked_add(reference)
}

/// Encode an instant as a value in `units`: the inverse of [`decode`].
pub fn encode(us: i128, units: &TimeUnits) -> Result<f64, String> {
    let unit = units.checked_unit()?;
    let offset = us - units.reference_us()?;
    Ok(divide(offset, unit))
}

/// `n / d` as the nearest `f64` we can get cheaply: the quotient is exact
/// whenever it is an integer below 2^53, and otherwise the remainder is
/// added as a fraction so large quotients keep their sub-unit part.
fn divide(n: i128, d: i128) -> f64 {
    let q = n.div_euclid(d);
    let r = n.rem_euclid(d);
    if r == 0 {
        q as f64
    } else {
        q as f64 + r as f64 / d as f64
    }
}

/// Re-encode `value` from `from` units into `to` units of the same calendar.
///
/// The reference offset is computed in integer microseconds and combined
/// with the integral part of `value` exactly, so integral inputs whose result
/// is integral come out exactly (`value + offset` when both units are the
/// same). Only the fractional part of `value` goes through floating point.
/// Non-finite values pass through unchanged.
pub fn recode(value: f64, from: &TimeUnits, to: &TimeUnits) -> Result<f64, String> {
    if from.calendar != to.calendar {
        return Err(format!("cannot re-encode times from the {} calendar into the {} calendar", from.calendar, to.calendar));
    }
    let from_unit = from.checked_unit()?;
    let to_unit = to.checked_unit()?;
    let offset = from.reference_us()? - to.reference_us()?;
    if !value.is_finite() {
        return Ok(value);
    }
    let whole = value.trunc();
    // Exact: `whole` and `value` share the exponent range of one binary number.
    let fraction = value - whole;
    let whole_us = integral_to_i128(whole).and_then(|w| w.checked_mul(from_unit)).and_then(|w| w.checked_add(offset));
    let Some(whole_us) = whole_us else {
        // Values this large (in practice fill values) have no sub-unit
        // precision to preserve; same-unit recoding then leaves them as is.
        return Ok(value * (from_unit as f64 / to_unit as f64) + offset as f64 / to_unit as f64);
    };
    let q = whole_us.div_euclid(to_unit);
    let r = whole_us.rem_euclid(to_unit);
    // An integral ratio keeps e.g. 0.5 days -> 12 hours exact; 0.5 * 1 is 0.5.
    let fraction_in_to = if from_unit % to_unit == 0 { fraction * (from_unit / to_unit) as f64 } else { fraction * from_unit as f64 / to_unit as f64 };
    let tail = if r == 0 { fraction_in_to } else { r as f64 / to_unit as f64 + fraction_in_to };
    Ok(q as f64 + tail)
}

/// Format an instant for messages: "2099-12-16 00:00:00", with ".ffffff"
/// appended only when there are microseconds.
pub fn format_instant(cal: Calendar, us: i128) -> String {
    us_to_datetime(cal, us).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i128 = US_PER_DAY as i128;
    const SECOND: i128 = US_PER_SECOND as i128;

    fn us(cal: Calendar, year: i64, month: u32, day: u32) -> i128 {
        datetime_to_us(cal, &DateTime::date(year, month, day)).unwrap()
    }

    fn days_between(cal: Calendar, a: (i64, u32, u32), b: (i64, u32, u32)) -> i128 {
        (us(cal, b.0, b.1, b.2) - us(cal, a.0, a.1, a.2)) / DAY
    }

    fn units(s: &str, cal: Calendar) -> TimeUnits {
        parse_units(s, cal).unwrap_or_else(|e| panic!("{e}"))
    }

    fn dt(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32, microsecond: u32) -> DateTime {
        DateTime { year, month, day, hour, minute, second, microsecond }
    }

    #[test]
    fn calendar_names_parse_case_insensitively() {
        let cases = [
            ("standard", Calendar::Standard),
            ("Gregorian", Calendar::Standard),
            ("PROLEPTIC_GREGORIAN", Calendar::ProlepticGregorian),
            ("noleap", Calendar::NoLeap),
            ("365_day", Calendar::NoLeap),
            ("all_leap", Calendar::AllLeap),
            ("366_DAY", Calendar::AllLeap),
            ("360_day", Calendar::Day360),
            ("Julian", Calendar::Julian),
            (" standard ", Calendar::Standard),
        ];
        for (name, cal) in cases {
            assert_eq!(Calendar::parse(name), Some(cal), "{name}");
        }
        for name in ["none", "", "360", "gregorian_proleptic", "utc"] {
            assert_eq!(Calendar::parse(name), None, "{name}");
        }
        for cal in Calendar::ALL {
            assert_eq!(Calendar::parse(cal.name()), Some(cal));
        }
        assert_eq!(Calendar::default(), Calendar::Standard);
    }

    #[test]
    fn epoch_is_zero_in_every_calendar() {
        for cal in Calendar::ALL {
            assert_eq!(us(cal, 1970, 1, 1), 0, "{cal}");
            assert_eq!(us_to_datetime(cal, 0), DateTime::date(1970, 1, 1), "{cal}");
        }
    }

    #[test]
    fn standard_matches_unix_time_after_reform() {
        assert_eq!(us(Calendar::Standard, 2000, 1, 1), 946_684_800 * SECOND);
        assert_eq!(us(Calendar::Standard, 2038, 1, 19), 2_147_472_000 * SECOND);
        assert_eq!(us(Calendar::Standard, 1900, 1, 1), -2_208_988_800 * SECOND);
        // The UUID v1 epoch, i.e. the first day of the Gregorian calendar.
        assert_eq!(us(Calendar::Standard, 1582, 10, 15), -12_219_292_800 * SECOND);
    }

    #[test]
    fn standard_switches_from_julian_to_gregorian_in_1582() {
        let reform = us(Calendar::Standard, 1582, 10, 15);
        assert_eq!(us_to_datetime(Calendar::Standard, reform - DAY), DateTime::date(1582, 10, 4));
        assert_eq!(us(Calendar::Standard, 1582, 10, 4), reform - DAY);
        for day in 5..=14 {
            assert!(datetime_to_us(Calendar::Standard, &DateTime::date(1582, 10, day)).is_err());
        }
        // 1500 is a leap year before the reform, 1700 is not after it.
        assert_eq!(days_between(Calendar::Standard, (1500, 2, 28), (1500, 3, 1)), 2);
        assert_eq!(days_between(Calendar::Standard, (1700, 2, 28), (1700, 3, 1)), 1);
        assert!(datetime_to_us(Calendar::Standard, &DateTime::date(1700, 2, 29)).is_err());
        // Julian 0001-01-01 is proleptic Gregorian 0000-12-30 (what cftime gives too).
        assert_eq!(us(Calendar::Standard, 1, 1, 1), -62_135_769_600 * SECOND);
        // Julian day number 0 is Julian 4713 BC January 1, astronomical year -4712.
        assert_eq!(us(Calendar::Standard, -4712, 1, 1), -2_440_588 * DAY);
    }

    #[test]
    fn standard_before_reform_counts_like_julian() {
        let pairs = [((1000, 1, 1), (1500, 6, 15)), ((-100, 2, 28), (4, 3, 1)), ((1200, 2, 29), (1582, 10, 4))];
        for (a, b) in pairs {
            assert_eq!(days_between(Calendar::Standard, a, b), days_between(Calendar::Julian, a, b), "{a:?}..{b:?}");
        }
    }

    #[test]
    fn proleptic_gregorian_values() {
        let cal = Calendar::ProlepticGregorian;
        assert_eq!(us(cal, 1, 1, 1), -62_135_596_800 * SECOND);
        assert_eq!(us(cal, 0, 1, 1), -62_167_219_200 * SECOND);
        assert_eq!(us(cal, 1582, 10, 10), us(Calendar::Standard, 1582, 10, 15) - 5 * DAY);
        assert_eq!(days_between(cal, (1600, 2, 28), (1600, 3, 1)), 2);
        assert_eq!(days_between(cal, (1900, 2, 28), (1900, 3, 1)), 1);
        assert_eq!(days_between(cal, (2000, 2, 28), (2000, 3, 1)), 2);
        assert_eq!(days_between(cal, (0, 1, 1), (400, 1, 1)), 146_097);
        assert_eq!(days_between(cal, (-400, 1, 1), (0, 1, 1)), 146_097);
    }

    #[test]
    fn noleap_values() {
        let cal = Calendar::NoLeap;
        assert_eq!(days_between(cal, (1998, 1, 1), (2001, 1, 1)), 1095);
        assert_eq!(days_between(cal, (2000, 2, 28), (2000, 3, 1)), 1);
        assert_eq!(days_between(cal, (-1, 1, 1), (0, 1, 1)), 365);
        assert!(datetime_to_us(cal, &DateTime::date(2000, 2, 29)).is_err());
        assert_eq!(us(cal, 2000, 1, 1), 30 * 365 * DAY);
    }

    #[test]
    fn all_leap_years_have_366_days() {
        let cal = Calendar::AllLeap;
        for year in [-5, 0, 1, 1900, 1999, 2000, 2001, 2100] {
            assert_eq!(days_between(cal, (year, 1, 1), (year + 1, 1, 1)), 366, "{year}");
        }
        assert_eq!(days_between(cal, (1900, 2, 28), (1900, 3, 1)), 2);
    }

    #[test]
    fn day360_values() {
        let cal = Calendar::Day360;
        assert_eq!(days_between(cal, (2005, 12, 1), (2030, 12, 1)), 25 * 360);
        assert_eq!(days_between(cal, (2000, 2, 30), (2000, 3, 1)), 1);
        assert!(datetime_to_us(cal, &DateTime::date(2000, 1, 31)).is_err());
        assert_eq!(us_to_datetime(cal, -DAY), DateTime::date(1969, 12, 30));
    }

    #[test]
    fn julian_values() {
        let cal = Calendar::Julian;
        assert_eq!(days_between(cal, (1900, 2, 28), (1900, 3, 1)), 2);
        assert_eq!(days_between(cal, (1999, 2, 28), (1999, 3, 1)), 1);
        assert_eq!(days_between(cal, (0, 1, 1), (4, 1, 1)), 1461);
        // The julian calendar has its own 1970-01-01, 13 days after Gregorian's.
        assert_eq!(days_from_julian(1970, 1, 1), days_from_gregorian(1970, 1, 14), "epoch offset constant");
        assert_eq!(days_from_julian(1970, 1, 1), JULIAN_CALENDAR_EPOCH_DAY);
        assert_eq!(days_from_gregorian(1582, 10, 15), GREGORIAN_REFORM_DAY);
    }

    #[test]
    fn invalid_fields_are_rejected() {
        for cal in Calendar::ALL {
            for bad in [
                dt(2000, 0, 1, 0, 0, 0, 0),
                dt(2000, 13, 1, 0, 0, 0, 0),
                dt(2000, 1, 0, 0, 0, 0, 0),
                dt(2000, 4, 31, 0, 0, 0, 0),
                dt(2000, 1, 1, 24, 0, 0, 0),
                dt(2000, 1, 1, 0, 60, 0, 0),
                dt(2000, 1, 1, 0, 0, 60, 0),
                dt(2000, 1, 1, 0, 0, 0, 1_000_000),
            ] {
                assert!(datetime_to_us(cal, &bad).is_err(), "{cal} {bad:?}");
            }
        }
    }

    /// The date following `d` by the calendar's own month lengths.
    fn next_day(cal: Calendar, d: DateTime) -> DateTime {
        if cal == Calendar::Standard && (d.year, d.month, d.day) == (1582, 10, 4) {
            return DateTime::date(1582, 10, 15);
        }
        if d.day < cal.days_in_month(d.year, d.month).unwrap() {
            DateTime::date(d.year, d.month, d.day + 1)
        } else if d.month < 12 {
            DateTime::date(d.year, d.month + 1, 1)
        } else {
            DateTime::date(d.year + 1, 1, 1)
        }
    }

    #[test]
    fn consecutive_day_numbers_are_consecutive_dates() {
        for cal in Calendar::ALL {
            let first = -400_000;
            let mut expected = us_to_datetime(cal, first * DAY);
            for day in first..400_000 {
                let got = us_to_datetime(cal, day * DAY);
                assert_eq!(got, expected, "{cal} day {day}");
                assert_eq!(datetime_to_us(cal, &got), Ok(day * DAY), "{cal} {got}");
                expected = next_day(cal, got);
            }
        }
    }

    #[test]
    fn dates_round_trip_in_every_calendar() {
        for cal in Calendar::ALL {
            for year in (-10_000..10_000).step_by(37).chain([-1, 0, 1, 1582, 1583, 1600, 1900, 2000]) {
                for month in 1..=12 {
                    let last = cal.days_in_month(year, month).unwrap();
                    for day in [1, 15, last] {
                        let d = dt(year, month, day, 23, 59, 59, 999_999);
                        let Ok(instant) = datetime_to_us(cal, &d) else {
                            assert_eq!((cal, year, month), (Calendar::Standard, 1582, 10));
                            continue;
                        };
                        assert_eq!(us_to_datetime(cal, instant), d, "{cal}");
                    }
                }
            }
        }
    }

    #[test]
    fn far_off_years_do_not_overflow() {
        for cal in Calendar::ALL {
            for year in [i64::MIN / 2, -1_000_000_000_000, 1_000_000_000_000, i64::MAX / 2] {
                let d = DateTime::date(year, 3, 1);
                let instant = datetime_to_us(cal, &d).unwrap();
                assert_eq!(us_to_datetime(cal, instant), d, "{cal} {year}");
            }
        }
        assert_eq!(us_to_datetime(Calendar::Day360, i128::MAX).year, i64::MAX);
    }

    #[test]
    fn parses_plain_date() {
        let u = units("days since 1998-01-01", Calendar::NoLeap);
        assert_eq!(u.unit_us, US_PER_DAY);
        assert_eq!(u.reference, DateTime::date(1998, 1, 1));
        assert_eq!(u.tz_offset_minutes, 0);
        assert_eq!(u.calendar, Calendar::NoLeap);
    }

    #[test]
    fn parses_reference_forms_seen_in_the_wild() {
        let cases = [
            ("days since 1970-1-1 0:00:00 0:00", dt(1970, 1, 1, 0, 0, 0, 0)),
            ("seconds since 2019-11-25 00:00:00 0:00", dt(2019, 11, 25, 0, 0, 0, 0)),
            ("hours since 1850-01-01T00:00:00Z", dt(1850, 1, 1, 0, 0, 0, 0)),
            ("hours since 1850-01-01T06:30:00", dt(1850, 1, 1, 6, 30, 0, 0)),
            ("seconds since 2000-01-01 00:00:00.5", dt(2000, 1, 1, 0, 0, 0, 500_000)),
            ("seconds since 2000-01-01 00:00:00.1234567", dt(2000, 1, 1, 0, 0, 0, 123_456)),
            ("days since 1-1-1", dt(1, 1, 1, 0, 0, 0, 0)),
            ("days since 0001-01-01 00:00:00", dt(1, 1, 1, 0, 0, 0, 0)),
            ("days since 2000-01-01 00:00:00 UTC", dt(2000, 1, 1, 0, 0, 0, 0)),
            ("days since 2000-01-01 00:00:00 Z", dt(2000, 1, 1, 0, 0, 0, 0)),
            ("days since -4713-01-01", dt(-4713, 1, 1, 0, 0, 0, 0)),
            ("days since +2000-01-01", dt(2000, 1, 1, 0, 0, 0, 0)),
            ("days since 2000", dt(2000, 1, 1, 0, 0, 0, 0)),
            ("days since 2000-06", dt(2000, 6, 1, 0, 0, 0, 0)),
            ("days since 2000-01-01 12", dt(2000, 1, 1, 12, 0, 0, 0)),
            ("days since 2000-01-01 12:30", dt(2000, 1, 1, 12, 30, 0, 0)),
            ("days since 2000-01-01 UTC", dt(2000, 1, 1, 0, 0, 0, 0)),
            ("  Days   SINCE  2000-01-01  ", dt(2000, 1, 1, 0, 0, 0, 0)),
        ];
        for (text, expected) in cases {
            let u = units(text, Calendar::ProlepticGregorian);
            assert_eq!(u.reference, expected, "{text}");
            assert_eq!(u.tz_offset_minutes, 0, "{text}");
        }
    }

    #[test]
    fn utc_offsets_shift_the_reference_to_utc() {
        let cases = [
            ("days since 2000-01-01 12:00:00 +05:30", dt(2000, 1, 1, 6, 30, 0, 0), 330),
            ("days since 2000-01-01 12:00:00+05:30", dt(2000, 1, 1, 6, 30, 0, 0), 330),
            ("days since 2000-01-01T12:00:00+0530", dt(2000, 1, 1, 6, 30, 0, 0), 330),
            ("days since 2000-01-01 00:00:00 -6", dt(2000, 1, 1, 6, 0, 0, 0), -360),
            ("days since 2000-01-01 00:00:00-06:00", dt(2000, 1, 1, 6, 0, 0, 0), -360),
            ("days since 2000-01-01 -6", dt(2000, 1, 1, 6, 0, 0, 0), -360),
            ("days since 2000-01-01 02:00 +3", dt(1999, 12, 31, 23, 0, 0, 0), 180),
        ];
        for (text, expected, offset) in cases {
            let u = units(text, Calendar::Standard);
            assert_eq!((u.reference, u.tz_offset_minutes), (expected, offset), "{text}");
        }
        // Crossing a day boundary follows the calendar: 360_day has 30 January... and 30 February.
        let u = units("days since 2000-03-01 01:00 +02:00", Calendar::Day360);
        assert_eq!(u.reference, dt(2000, 2, 30, 23, 0, 0, 0));
    }

    #[test]
    fn parses_every_unit_spelling() {
        let cases = [
            (["microseconds", "microsecond", "us", "usec", "usecs"].as_slice(), 1),
            (&["milliseconds", "millisecond", "ms", "msec", "msecs"], 1_000),
            (&["seconds", "second", "s", "sec", "secs"], 1_000_000),
            (&["minutes", "minute", "min", "mins"], 60_000_000),
            (&["hours", "hour", "h", "hr", "hrs"], 3_600_000_000),
            (&["days", "day", "d", "DAYS", "Day"], 86_400_000_000),
        ];
        for (names, unit_us) in cases {
            for name in names {
                let u = units(&format!("{name} since 2000-01-01"), Calendar::Standard);
                assert_eq!(u.unit_us, unit_us, "{name}");
            }
        }
    }

    #[test]
    fn rejects_malformed_units() {
        let bad = [
            "months since 2000-01-01",
            "years since 2000-01-01",
            "fortnights since 2000-01-01",
            "days since",
            "days",
            "since 2000-01-01",
            "days after 2000-01-01",
            "days since 2000-13-01",
            "days since 2000-02-30",
            "days since 2000-01-01 25:00:00",
            "days since 2000-01-01 00:00:00 +25:00",
            "days since 2000-01-01 00:00:00 +5 extra",
            "days since 2000-01-01 00:00:00Z UTC",
            "days since 2000-01-01 00:00:00.5x",
            "days since 2000-01-01-01",
            "days since 2000/01/01",
            "days since 1582-10-10",
            "days since 2000-01-01 0:0:0:0",
            "days since 2000-01-01 noon",
            "days since --2000-01-01",
        ];
        for text in bad {
            assert!(parse_units(text, Calendar::Standard).is_err(), "{text}");
        }
        let message = parse_units("months since 2000-01-01", Calendar::Standard).unwrap_err();
        assert!(message.contains("months"), "{message}");
        // Only the standard calendar has a reform gap.
        assert!(parse_units("days since 1582-10-10", Calendar::ProlepticGregorian).is_ok());
    }

    #[test]
    fn decode_values() {
        let u = units("hours since 2000-01-01", Calendar::Standard);
        let reference = us(Calendar::Standard, 2000, 1, 1);
        assert_eq!(decode(0.0, &u), Some(reference));
        assert_eq!(decode(1.5, &u), Some(reference + 5_400 * SECOND));
        assert_eq!(decode(-24.0, &u), Some(reference - DAY));
        assert_eq!(decode(-0.25, &u), Some(reference - 900 * SECOND));
        assert_eq!(decode(f64::NAN, &u), None);
        assert_eq!(decode(f64::INFINITY, &u), None);
        assert_eq!(decode(f64::NEG_INFINITY, &u), None);
        assert_eq!(decode(9.969_209_968_386_869e36, &u), None);

        let d = units("days since 2000-01-01", Calendar::Standard);
        // 0.1 is not exact in binary; the result must still land on the microsecond.
        assert_eq!(decode(0.1, &d), Some(reference + DAY / 10));
        assert_eq!(decode(-1.1, &d), Some(reference - DAY - DAY / 10));
    }

    #[test]
    fn decode_honours_utc_offset() {
        let local = units("seconds since 2000-01-01 05:30:00 +05:30", Calendar::Standard);
        let utc = units("seconds since 2000-01-01", Calendar::Standard);
        assert_eq!(decode(10.0, &local), decode(10.0, &utc));
    }

    #[test]
    fn encode_inverts_decode() {
        let u = units("days since 2001-01-01", Calendar::NoLeap);
        for value in [0.0, 1.0, -1.0, 0.5, -0.5, 1095.25, 1e6, -3.75] {
            assert_eq!(encode(decode(value, &u).unwrap(), &u), Ok(value), "{value}");
        }
    }

    #[test]
    fn recode_is_exact_for_documented_cases() {
        let cal = Calendar::NoLeap;
        let from = units("days since 2001-01-01", cal);
        let to = units("days since 1998-01-01", cal);
        assert_eq!(recode(0.5, &from, &to), Ok(1095.5));
        assert_eq!(recode(0.0, &from, &to), Ok(1095.0));
        assert_eq!(recode(-1.0, &from, &to), Ok(1094.0));
        assert_eq!(recode(-0.25, &from, &to), Ok(1094.75));
        assert_eq!(recode(-1095.0, &from, &to), Ok(0.0));
        assert_eq!(recode(-1096.5, &from, &to), Ok(-1.5));

        let cal = Calendar::Standard;
        let from = units("seconds since 2019-11-30 00:00:00 0:00", cal);
        let to = units("seconds since 2019-11-25 00:00:00 0:00", cal);
        assert_eq!(recode(1800.0, &from, &to), Ok(433_800.0));
        assert_eq!(recode(0.5, &from, &to), Ok(432_000.5));
        assert_eq!(recode(-432_000.0, &from, &to), Ok(0.0));
    }

    #[test]
    fn recode_same_units_adds_offset_exactly() {
        let from = units("days since 2001-01-01", Calendar::Standard);
        let to = units("days since 1998-01-01", Calendar::Standard);
        let offset = 1096.0; // 2000 is a leap year
        for value in [0.0, 0.1, 0.3, -0.7, 1.0 / 3.0, 123.456, -5000.999, 1e9 + 0.5, 2f64.powi(52)] {
            assert_eq!(recode(value, &from, &to), Ok(value + offset), "{value}");
        }
        for value in [0.0, 0.1, -2.5, 1e15, -1e15] {
            assert_eq!(recode(value, &from, &from), Ok(value), "{value}");
        }
    }

    #[test]
    fn recode_between_different_units() {
        let cal = Calendar::ProlepticGregorian;
        let seconds = units("seconds since 2000-01-01", cal);
        let days = units("days since 2000-01-01", cal);
        let hours = units("hours since 1999-12-31 12:00", cal);
        assert_eq!(recode(43_200.0, &seconds, &days), Ok(0.5));
        assert_eq!(recode(-86_400.0, &seconds, &days), Ok(-1.0));
        assert_eq!(recode(1.0, &seconds, &days), Ok(1.0 / 86_400.0));
        assert_eq!(recode(1.5, &days, &seconds), Ok(129_600.0));
        assert_eq!(recode(0.1, &days, &seconds), Ok(8_640.0));
        assert_eq!(recode(1.0, &days, &hours), Ok(36.0));
        assert_eq!(recode(-0.5, &days, &hours), Ok(0.0));
        assert_eq!(recode(6.0, &hours, &days), Ok(-0.25));
        // Offsets that are not whole target units: noon reference into midnight days.
        let noon = units("days since 2000-01-01 12:00", cal);
        assert_eq!(recode(3.0, &noon, &days), Ok(3.5));
        assert_eq!(recode(-3.0, &noon, &days), Ok(-2.5));
        let ms = units("milliseconds since 1970-01-01", cal);
        assert_eq!(recode(1.0, &days, &ms), Ok(946_771_200_000.0));
    }

    #[test]
    fn recode_preserves_decoded_instants() {
        let cal = Calendar::Day360;
        let sources = [units("days since 2005-12-01", cal), units("hours since 2030-12-01 06:00", cal), units("minutes since 1850-02-30", cal)];
        let target = units("days since 2005-12-01", cal);
        for from in &sources {
            for value in [0.0, 1.0, -1.0, 0.25, 1234.5, -98_765.0] {
                let recoded = recode(value, from, &target).unwrap();
                assert_eq!(decode(recoded, &target), decode(value, from), "{value} {from:?}");
            }
        }
    }

    #[test]
    fn recode_edge_values() {
        let from = units("days since 2001-01-01", Calendar::Standard);
        let to = units("days since 1998-01-01", Calendar::Standard);
        assert!(recode(f64::NAN, &from, &to).unwrap().is_nan());
        assert_eq!(recode(f64::INFINITY, &from, &to), Ok(f64::INFINITY));
        assert_eq!(recode(f64::NEG_INFINITY, &from, &to), Ok(f64::NEG_INFINITY));
        // A netCDF default fill value survives same-unit recoding unchanged.
        let fill = 9.969_209_968_386_869e36;
        assert_eq!(recode(fill, &from, &to), Ok(fill));
        assert_eq!(recode(-0.0, &from, &from), Ok(0.0));

        let other = units("days since 1998-01-01", Calendar::NoLeap);
        let err = recode(1.0, &from, &other).unwrap_err();
        assert!(err.contains("standard") && err.contains("noleap"), "{err}");
        let broken = TimeUnits { unit_us: 0, ..to.clone() };
        assert!(recode(1.0, &from, &broken).is_err());
        assert_eq!(decode(1.0, &broken), None);
    }

    #[test]
    fn formats_instants() {
        let cal = Calendar::Day360;
        let instant = us(cal, 2099, 12, 16);
        assert_eq!(format_instant(cal, instant), "2099-12-16 00:00:00");
        assert_eq!(format_instant(cal, instant + 3_661 * SECOND + 5), "2099-12-16 01:01:01.000005");
        assert_eq!(format_instant(Calendar::Standard, 0), "1970-01-01 00:00:00");
        assert_eq!(format_instant(Calendar::Standard, -1), "1969-12-31 23:59:59.999999");
        let ancient = us(Calendar::ProlepticGregorian, -44, 3, 15);
        assert_eq!(format_instant(Calendar::ProlepticGregorian, ancient), "-0044-03-15 00:00:00");
        assert_eq!(format_instant(Calendar::Julian, us(Calendar::Julian, 5, 1, 2)), "0005-01-02 00:00:00");
    }
}
