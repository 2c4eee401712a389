//! Classic predictors.
