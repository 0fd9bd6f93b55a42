"""Outside sources of EU VAT facts: VIES (is a VAT number registered?), the Commission's TEDB
(the member states' VAT rates) and the rate table bundled with Billow."""
