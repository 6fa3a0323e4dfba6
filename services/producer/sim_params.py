"""The simulator's parameters, calibrated on the public Fitabase Fitbit export (33 users, 4/12-5/12/2016).

Every figure cites where it comes from: "STATS" means the statistics computed from the Fitabase files (daily,
hourly, minute, minuteSleep and 4-user heart-rate files); "fit" means a value tuned so that the simulated cohort
reproduces a STATS figure (the realism report, `fitpipe realism`, checks them all). Nothing here is read from the
data at run time.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

#: The export's first day. Simulations start on it unless told otherwise, so that simulated and real data cover the
#: same calendar and weekdays fall as in the real data.
FITABASE_START: Final = dt.date(2016, 4, 12)

# --- Population ---------------------------------------------------------------------------------------------------
#: Share of users whose tracker logs sleep (STATS: 24 of 33) and who wear a heart-rate tracker (STATS: 14 of 33).
SLEEP_USER_SHARE: Final = 24 / 33
HEART_RATE_USER_SHARE: Final = 14 / 33
#: Fitbit user ids have 10 digits (STATS: all 33 ids, 1503960366 to 8877689391).
USER_ID_RANGE: Final = (1_000_000_000, 9_999_999_999)

# --- Intensity: the minute-to-minute Markov chain --------------------------------------------------------------------
#: Transition probabilities, row = intensity now, column = intensity next minute (STATS, minute level). Its stationary
#: distribution is 0.839 / 0.136 / 0.010 / 0.015, the real shares.
INTENSITY_TRANSITIONS: Final = (
    (0.944, 0.055, 0.0004, 0.0001),
    (0.340, 0.645, 0.0135, 0.0023),
    (0.041, 0.178, 0.595, 0.186),
    (0.007, 0.021, 0.119, 0.852),
)
#: Share of minutes at intensity 0, by hour of day 0-23 (STATS, hourly profile). The chain's rate of leaving
#: intensity 0 follows this profile hour by hour.
SEDENTARY_SHARE_BY_HOUR: Final = (
    0.966, 0.978, 0.984, 0.993, 0.989, 0.955, 0.903, 0.851, 0.818, 0.793, 0.762, 0.765,
    0.737, 0.750, 0.757, 0.776, 0.750, 0.716, 0.715, 0.729, 0.794, 0.830, 0.874, 0.930,
)  # fmt: skip
#: Share of minutes at intensity 1 and 3, by hour 0-23 (STATS, hourly profile): vigorous exercise has its own
#: daily rhythm (early-morning runs at 05 h), so the chain's rate of entering "very active" follows their ratio.
LIGHT_SHARE_BY_HOUR: Final = (
    0.033, 0.021, 0.015, 0.007, 0.011, 0.026, 0.079, 0.132, 0.146, 0.178, 0.205, 0.205,
    0.220, 0.208, 0.199, 0.201, 0.221, 0.235, 0.235, 0.216, 0.181, 0.147, 0.105, 0.059,
)  # fmt: skip
VIGOROUS_SHARE_BY_HOUR: Final = (
    0.001, 0.001, 0.001, 0.000, 0.000, 0.018, 0.012, 0.010, 0.026, 0.019, 0.021, 0.017,
    0.026, 0.023, 0.027, 0.013, 0.018, 0.029, 0.032, 0.033, 0.011, 0.010, 0.011, 0.004,
)  # fmt: skip
#: Vigorous exercise is partly its own activity (a run, a class) rather than a walk that speeds up: bouts that start
#: straight from sedentary, as a multiple of the real 0 -> 3 rate, and the 1 -> 3 and 2 -> 3 rates, as a multiple of
#: the real ones (fit: the correlation of daily steps with VeryActiveMinutes is 0.67, not the 0.8 of a chain where
#: vigorous minutes only come out of light ones).
VIGOROUS_START_FACTOR: Final = 6.0
ONWARD_VIGOUR_FACTOR: Final = 0.6
#: Weekend: the morning starts about 1.5 h later and midday is busier (STATS: 06 h 62 steps against 220 on weekdays,
#: 07 h 184 against 349; 13-15 h about 515-640). Weekdays are solved so that the week averages the real profile.
WEEKEND_MORNING_SHIFT_H: Final = 1.5
WEEKEND_MIDDAY_BOOST: Final = 1.12
#: Users and days differ around the hourly level, and the share of active minutes is concave in the chain's rate, so
#: a busy hour needs a larger rate for the cohort to reach the real share on average: the hour's rate is multiplied
#: by 1 + this x its target active share (fit: hourly intensity shares within 0.03 of the real ones, daily steps).
ACTIVITY_CALIBRATION: Final = 0.75

# --- Users and days (random effects) ---------------------------------------------------------------------------------
#: Log-normal sd of a user's activity level and of a day's (fit: between-user sd of mean daily steps 3576 against
#: a mean within-user sd of 3461, STATS).
USER_ACTIVITY_SD: Final = 0.55
DAY_ACTIVITY_SD: Final = 0.30
#: Log-normal sd of a user's and a day's propensity for vigorous exercise (fit: VeryActiveMinutes mean 21.2, median
#: 4, between-user sd 23.8, within-user sd 17.7, STATS), and its correlation with the activity level.
USER_VIGOUR_SD: Final = 0.60
DAY_VIGOUR_SD: Final = 0.35
VIGOUR_ACTIVITY_CORRELATION: Final = 0.0
#: Days the tracker is not worn: 0 steps, 1440 sedentary minutes, no sleep log (STATS: 77 of 940 user-days, 8.2%).
#: A Beta(a, b) per user, mean 0.085, so that some users leave it off far more often than others.
NON_WEAR_BETA: Final = (1.2, 13.0)

# --- Steps given intensity (STATS, minute level) ---------------------------------------------------------------------
#: Intensity 0: steps > 0 on 0.03% of minutes, a few steps.
SEDENTARY_STEPS_SHARE: Final = 0.0003
#: Intensity 1: 93.6% of minutes with steps; mean 24.8, median 18, p90 56 -> gamma(shape 1.4) with mean 26.5.
LIGHT_STEPS_SHARE: Final = 0.936
LIGHT_STEPS_GAMMA: Final = (1.4, 26.5 / 1.4)
#: Intensity 2: 95.0% with steps; mean 59.4, median 63, p90 91 -> normal(64, 22).
FAIR_STEPS_SHARE: Final = 0.950
FAIR_STEPS_NORMAL: Final = (64.0, 22.0)
#: Intensity 3: 91.4% with steps; mean 92.4, median 104, p90 138 -> normal(103, 28); at most 220 steps a minute.
#: Users differ: some ride or lift (very active without steps), and cadences differ (fit: the correlation of daily
#: steps with VeryActiveMinutes is 0.67, not the 0.85 that identical steppers give).
VIGOROUS_STEPS_SHARE_BETA: Final = (0.6, 0.057)
USER_VIGOROUS_CADENCE_SD: Final = 0.4
VIGOROUS_STEPS_NORMAL: Final = (103.0, 28.0)
MAX_STEPS_PER_MINUTE: Final = 220

# --- METs (x10, as Fitbit stores them) and calories (STATS, METs) ----------------------------------------------------
#: Intensity 0: 10 at rest and asleep, up to 15 when awake (10 + floor of an exponential with this mean, capped).
SEDENTARY_METS_EXTRA_MEAN: Final = 1.0
#: METs at intensities 1/2/3 rise with the minute's steps: base + slope x steps + normal noise, clipped to a range
#: (real ranges 16-128 / 37-59 / 60-157; means 25-35 / 43 / 81).
METS_BY_STEPS: Final = {
    1: (18.0, 0.55, 4.0, 16, 128),
    2: (36.0, 0.12, 4.0, 30, 59),
    3: (57.0, 0.25, 8.0, 60, 157),
}
#: A user's resting kcal per minute: calories = rate x METs / 10 (STATS: mean 1.11, sd 0.23, range 0.70-1.53; the sd
#: is widened to 0.27 before clipping to that range, fit for the daily Calories sd 718).
RESTING_KCAL_PER_MIN: Final = (1.11, 0.27, 0.70, 1.53)

# --- Sleep (STATS, minuteSleep and sleepDay) -------------------------------------------------------------------------
#: Probability that a sleep user logs a given night: Beta(a, b), mean 0.62 (STATS: 57.5% of sleep users' days have a
#: sleepDay row, nights per sleep user median 20.5 of about 30, range 1-31).
NIGHT_LOGGED_BETA: Final = (3.0, 1.85)
#: When a main log starts, in hours after midnight of the day it ends (negative: the evening before). A user's usual
#: bedtime, its spread between users, and the night-to-night spread (STATS: 84% start 20:00-02:59, modal hour 22).
BEDTIME_MEAN_H: Final = -1.0
BEDTIME_USER_SD_H: Final = 0.8
BEDTIME_NIGHT_SD_H: Final = 0.9
WEEKEND_BEDTIME_SHIFT_H: Final = 0.5
#: Time in bed of a main log, minutes: user mean and its spread, night-to-night spread (STATS: TotalTimeInBed mean
#: 458.5, sd 127.5; 78% of logs end 04:00-09:59, modal hour 06).
IN_BED_MEAN_MIN: Final = 468.0
IN_BED_USER_SD_MIN: Final = 45.0
IN_BED_NIGHT_SD_MIN: Final = 70.0
IN_BED_RANGE_MIN: Final = (180, 720)
#: Nights with more than one log (STATS: TotalSleepRecords 1 -> 88.8%, 2 -> 10.5%, 3 -> 0.7%): a night is split in
#: two by a short wake, or a nap is logged in the afternoon.
SPLIT_NIGHT_SHARE: Final = 0.085
SPLIT_GAP_MIN: Final = (5, 40)
NAP_SHARE: Final = 0.03
NAP_START_H: Final = (13.5, 16.5)
NAP_LENGTH_MIN: Final = (25, 90)
#: Minute-to-minute transitions inside a log, 1 asleep / 2 restless / 3 awake (STATS); stationary shares 0.919 /
#: 0.072 / 0.009 against real 0.915 / 0.075 / 0.011.
SLEEP_TRANSITIONS: Final = (
    (0.972, 0.0275, 0.0004),
    (0.343, 0.614, 0.043),
    (0.095, 0.301, 0.605),
)
#: Log-normal sd of a user's restlessness (scales the rate of leaving "asleep").
USER_RESTLESSNESS_SD: Final = 0.35
#: A log starts restless with this probability, asleep otherwise.
LOG_STARTS_RESTLESS: Final = 0.3
#: Intensity inside a log, by sleep value (STATS): 1 -> 99.8% intensity 0; 2 -> 9% intensity 1; 3 -> 31% intensity
#: 1 and 1% intensity 2. Steps in those minutes average 0.016 / 1.04 / 7.3.
SLEEP_LIGHT_SHARE: Final = {1: 0.002, 2: 0.09, 3: 0.31}
SLEEP_FAIR_SHARE: Final = {1: 0.0, 2: 0.0, 3: 0.01}
SLEEP_STEPS_MEAN: Final = {1: 8.0, 2: 11.6, 3: 23.5}

# --- Heart rate (STATS, heart rate: 4 users per minute, 14 users at seconds level) ------------------------------------
#: A user's sedentary heart rate while awake in the daytime (STATS: 62.8-73.3 by user; fit for the overall mean).
HR_BASELINE: Final = (74.0, 6.5, 62.0, 88.0)
#: Heart rate goes towards baseline + hour + intensity + steps + sleep effects, each minute closing this share of
#: the gap, plus noise (STATS: lag-1 autocorrelation 0.96, sd of the minute-to-minute change 4.9 bpm).
HR_RESPONSE: Final = 0.3
HR_NOISE_SD: Final = 4.5
#: Effect of the hour of day (STATS: night hours about 60, daytime 72-80 with the peak around 18 h).
HR_BY_HOUR: Final = (-11, -12, -12, -12, -11, -8, -4, -1, 0, 1, 2, 3, 3, 3, 3, 3, 4, 5, 7, 6, 4, 1, -3, -7)
#: Effect of intensity 0-3 above sedentary, and per step above the intensity's mean steps (fit: real means 67 / 81 /
#: 100 / 128; by steps/min bin 0 -> 67, 61-100 -> 98, over 100 -> 121).
HR_BY_INTENSITY: Final = (0.0, 16.0, 27.0, 66.0)
HR_PER_STEP: Final = 0.6
#: A day's resting heart rate moves around the user's baseline (normal sd, bpm).
HR_DAY_SD: Final = 4.0
#: A day's exercise effort scales the intensity effect (log-normal sd; STATS: sd at intensity 3 is 23.8 bpm).
HR_DAY_EFFORT_SD: Final = 0.4
#: Effect of the sleep value 1/2/3 inside a log, on top of the night hours (STATS: asleep 60.2, restless 61.0, awake
#: 65.1, against 72.2 outside logs).
HR_BY_SLEEP_VALUE: Final = {1: 0.5, 2: 1.5, 3: 4.5}
#: Physiological limits (STATS: seconds-level min 36, max 203).
HR_RANGE: Final = (38, 200)
