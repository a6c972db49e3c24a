/**
 * Great-circle geometry for the spec 3.2.2 pair rule: two access points in different provinces more
 * than 1000 km apart "in a straight line" (空中距离, air distance).
 */

/**
 * Mean Earth radius R1 = (2a + b) / 3 of the WGS-84 ellipsoid, in km (IUGG). On a sphere of this
 * radius the haversine distance is within about 0.5 % of the ellipsoidal (Vincenty) distance: a few
 * km at 1000 km, which is why the distance table shows whole kilometres.
 */
export const EARTH_MEAN_RADIUS_KM = 6371.0088;

/** The spec's minimum straight-line distance between the two access points. */
export const PAIR_MIN_DISTANCE_KM = 1000;

export interface GeoPoint {
  latitude: number;
  longitude: number;
}

/** A site as the pair rule sees it: where it is and which province it belongs to. */
export interface PairEnd extends GeoPoint {
  province: string;
}

export interface PairCheck {
  distance_km: number;
  different_provinces: boolean;
  over_1000_km: boolean;
  ok: boolean;
}

const toRad = (deg: number): number => (deg * Math.PI) / 180;

/**
 * Haversine great-circle distance in km. The haversine form (rather than the spherical law of
 * cosines) stays accurate for short distances, where acos of a value near 1 loses precision.
 */
export function greatCircleKm(a: GeoPoint, b: GeoPoint): number {
  const dLat = toRad(b.latitude - a.latitude);
  const dLon = toRad(b.longitude - a.longitude);
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(toRad(a.latitude)) * Math.cos(toRad(b.latitude)) * Math.sin(dLon / 2) ** 2;
  // min() guards against h creeping past 1 by rounding for antipodal points.
  return 2 * EARTH_MEAN_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Judge one pair against the spec 3.2.2 rule: different provinces AND strictly over 1000 km. */
export function checkPair(a: PairEnd, b: PairEnd): PairCheck {
  const distance_km = greatCircleKm(a, b);
  const different_provinces = a.province !== b.province;
  const over_1000_km = distance_km > PAIR_MIN_DISTANCE_KM;
  return { distance_km, different_provinces, over_1000_km, ok: different_provinces && over_1000_km };
}
