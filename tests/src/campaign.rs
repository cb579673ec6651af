//! A whole year of the campaign at province scale, written straight into a relay's storage: the
//! province of Henan with its cities, counties and townships, departments at every level, campaign
//! offices, department handlers, cadres (each with a department of their county) and enterprise
//! contacts; enterprises registered with their assigned cadres and a year of visits; problems with
//! their whole lifecycles as real events (reported from visits or by the enterprises, accepted,
//! routed, re-routed, escalated up the five levels, urged, resolved on time or late, confirmed with
//! a rating, called back, closed unanswered, rejected and reopened, followed up, withdrawn, or still
//! open and overdue); and task notices with their recipients' acknowledgements and completions.
//!
//! Like `province`, documents are built with zhuqi-core and stored with the relay's own projections
//! and scope keys in large batches, not pushed through validation one change at a time. Every event
//! is nevertheless one the relay would accept in its place: written by a user allowed to take it
//! (`zhuqi_core::rules`), from that user's device (a phone, or the relay's desk device `relay:<user>`
//! for the campaign offices' actions), fitting the state before it, and dated honestly. Each event
//! carries the time the relay received it (`event_receipts`): phones sync minutes to days after
//! acting, a few resolutions and visits are entered more than the offline window late (补录), and a
//! change always arrives after the changes it depends on and before anyone who saw it acted.
//! [`revalidate`] replays a stored document through the relay's validation, change by change, to
//! check exactly that.
//!
//! Everything is derived from a fixed seed and `now`: the same shape and `now` give the same data.

use automerge::{ActorId, Automerge};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use zhuqi_core::document::{Document, raw_events_of};
use zhuqi_core::domain::event::{Fold, OFFLINE_WINDOW_MS, fold};
use zhuqi_core::domain::problem::is_overdue;
use zhuqi_core::domain::text::date_of;
use zhuqi_core::domain::*;
use zhuqi_server::AppState;
use zhuqi_server::storage::{AcceptedChange, Account, Commit, DocWrite};
use zhuqi_server::sync::directory::Snapshot;

pub const PROVINCE: &str = "410000";
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// China Standard Time, ahead of UTC.
const CST: i64 = 8 * HOUR;

/// How big a campaign to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignShape {
    /// Cities, at most 18 (Henan's 17 and 济源).
    pub cities: usize,
    /// Counties spread over the cities in proportion to their real numbers, at most 157.
    pub counties: usize,
    /// Townships of each county, at most 20.
    pub townships_per_county: usize,
    pub enterprises: usize,
    /// Cadres, at least one a county.
    pub cadres: usize,
    /// Problems reported over the 12 months.
    pub problems: usize,
    /// Visits over the 12 months, exactly.
    pub visits: usize,
    pub notices: usize,
    /// The end of the year generated; the relay's clock when `None`.
    pub now: Option<i64>,
}

impl CampaignShape {
    /// The province as the campaign's 2022 review tells it: 76,000 cadres, 135,000 enterprises,
    /// 88,435 problems; a million visits and 200 task notices.
    pub fn province() -> CampaignShape {
        CampaignShape {
            cities: 18,
            counties: 150,
            townships_per_county: 15,
            enterprises: 135_000,
            cadres: 76_000,
            problems: 88_435,
            visits: 1_000_000,
            notices: 200,
            now: None,
        }
    }

    /// The province with its people and records scaled by `factor` (0.1: a tenth), the regions and
    /// departments kept whole as long as every county keeps some enterprises.
    pub fn scaled(factor: f64) -> CampaignShape {
        let full = CampaignShape::province();
        let n = |v: usize| ((v as f64 * factor).round() as usize).max(1);
        let enterprises = n(full.enterprises).max(2);
        let counties = full.counties.min(enterprises / 20).max(1);
        let cities = full.cities.min(counties);
        CampaignShape {
            cities,
            counties,
            townships_per_county: full.townships_per_county,
            enterprises,
            cadres: n(full.cadres).max(counties),
            problems: n(full.problems),
            visits: n(full.visits),
            notices: n(full.notices),
            now: None,
        }
    }

    /// A small campaign for tests: 2 cities, 3 counties, 300 enterprises, 200 cadres, 300 problems,
    /// 3,000 visits and 5 task notices.
    pub fn small() -> CampaignShape {
        CampaignShape {
            cities: 2,
            counties: 3,
            townships_per_county: 4,
            enterprises: 300,
            cadres: 200,
            problems: 300,
            visits: 3_000,
            notices: 5,
            now: None,
        }
    }

    /// The province scaled by `ZHUQI_BENCH_SCALE` (1 when unset).
    pub fn from_env() -> CampaignShape {
        let factor = std::env::var("ZHUQI_BENCH_SCALE").ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(1.0);
        if factor == 1.0 { CampaignShape::province() } else { CampaignShape::scaled(factor) }
    }
}

/// What was written, counted as it was generated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub regions: usize,
    pub departments: usize,
    /// Every account: offices, handlers, cadres and enterprise contacts.
    pub accounts: usize,
    pub cadres: usize,
    pub enterprises: usize,
    pub assignments: usize,
    pub visits: usize,
    /// Visits the relay received more than the offline window after they took place (补录).
    pub late_visits: usize,
    pub problems: usize,
    /// Problems reported by the enterprise's own contact (the rest by cadres, from visits).
    pub reported_by_enterprise: usize,
    pub problem_events: usize,
    /// Problems by status at `now`.
    pub by_status: BTreeMap<String, usize>,
    /// Problems handled above level 1 at `now`.
    pub above_level_one: usize,
    /// Problems escalated at least once.
    pub escalated: usize,
    /// Problems that reached the province platform (level 5).
    pub at_province: usize,
    pub rerouted: usize,
    pub urged: usize,
    /// Problems reopened at least once (a rejection, a negative call-back or follow-up review).
    pub reopened: usize,
    pub rejected: usize,
    pub followed_up: usize,
    /// Confirmed or closed problems by who accepted the resolution (`enterprise`, `call_back`, `unanswered`).
    pub by_confirmation: BTreeMap<String, usize>,
    /// Resolution events the relay received more than the offline window after their own time.
    pub late_resolutions: usize,
    /// Problems whose (latest) resolution came after the deadline it is judged by.
    pub resolved_late: usize,
    /// Open problems overdue at `now`.
    pub overdue: usize,
    pub notices: usize,
    pub notice_recipients: usize,
    pub acknowledged: usize,
    pub completed: usize,
    pub completed_late: usize,
    pub documents: usize,
    pub changes: usize,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        macro_rules! sum {
            ($($f:ident),*) => { $(self.$f += o.$f;)* };
        }
        sum!(
            regions,
            departments,
            accounts,
            cadres,
            enterprises,
            assignments,
            visits,
            late_visits,
            problems,
            reported_by_enterprise,
            problem_events,
            above_level_one,
            escalated,
            at_province,
            rerouted,
            urged,
            reopened,
            rejected,
            followed_up,
            late_resolutions,
            resolved_late,
            overdue,
            notices,
            notice_recipients,
            acknowledged,
            completed,
            completed_late,
            documents,
            changes
        );
        for (k, v) in &o.by_status {
            *self.by_status.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.by_confirmation {
            *self.by_confirmation.entry(k.clone()).or_default() += v;
        }
    }
}

/// What was generated: the ids a benchmark needs (every login equals its user id) and the counts.
#[derive(Debug, Clone, Default)]
pub struct Campaign {
    /// The end of the generated year (ms).
    pub now: i64,
    /// The province's campaign office.
    pub province_office: String,
    /// The campaign office of the city of `county`.
    pub city: String,
    pub city_office: String,
    /// A large county: the one of `big_enterprise` and `busy_cadre`.
    pub county: String,
    pub county_office: String,
    /// The cadre of `county` with the most enterprises.
    pub busy_cadre: String,
    /// The enterprise with the most visits and problems.
    pub big_enterprise: String,
    /// The problem of `big_enterprise` with the longest timeline.
    pub problem: String,
    pub cities: Vec<String>,
    pub counties: Vec<String>,
    pub cadres: Vec<String>,
    pub enterprises: Vec<String>,
    pub problems: Vec<String>,
    pub notices: Vec<String>,
    pub counts: Counts,
}

// ---- the province ----

/// The cities: division code, name, short name, rough position, counties (code, name).
type CityRow = (&'static str, &'static str, &'static str, (f64, f64), &'static [(&'static str, &'static str)]);

#[rustfmt::skip]
const CITIES: &[CityRow] = &[
    ("410100", "郑州市", "郑州", (34.75, 113.63), &[
        ("410102", "中原区"), ("410103", "二七区"), ("410104", "管城回族区"), ("410105", "金水区"),
        ("410106", "上街区"), ("410108", "惠济区"), ("410122", "中牟县"), ("410181", "巩义市"),
        ("410182", "荥阳市"), ("410183", "新密市"), ("410184", "新郑市"), ("410185", "登封市"),
    ]),
    ("410200", "开封市", "开封", (34.80, 114.31), &[
        ("410202", "龙亭区"), ("410203", "顺河回族区"), ("410204", "鼓楼区"), ("410205", "禹王台区"),
        ("410212", "祥符区"), ("410221", "杞县"), ("410222", "通许县"), ("410223", "尉氏县"), ("410225", "兰考县"),
    ]),
    ("410300", "洛阳市", "洛阳", (34.62, 112.45), &[
        ("410302", "老城区"), ("410303", "西工区"), ("410304", "瀍河回族区"), ("410305", "涧西区"),
        ("410307", "偃师区"), ("410308", "孟津区"), ("410311", "洛龙区"), ("410323", "新安县"),
        ("410324", "栾川县"), ("410325", "嵩县"), ("410326", "汝阳县"), ("410327", "宜阳县"),
        ("410328", "洛宁县"), ("410329", "伊川县"),
    ]),
    ("410400", "平顶山市", "平顶山", (33.77, 113.19), &[
        ("410402", "新华区"), ("410403", "卫东区"), ("410404", "石龙区"), ("410411", "湛河区"),
        ("410421", "宝丰县"), ("410422", "叶县"), ("410423", "鲁山县"), ("410425", "郏县"),
        ("410481", "舞钢市"), ("410482", "汝州市"),
    ]),
    ("410500", "安阳市", "安阳", (36.10, 114.39), &[
        ("410502", "文峰区"), ("410503", "北关区"), ("410505", "殷都区"), ("410506", "龙安区"),
        ("410522", "安阳县"), ("410523", "汤阴县"), ("410526", "滑县"), ("410527", "内黄县"), ("410581", "林州市"),
    ]),
    ("410600", "鹤壁市", "鹤壁", (35.75, 114.30), &[
        ("410602", "鹤山区"), ("410603", "山城区"), ("410611", "淇滨区"), ("410621", "浚县"), ("410622", "淇县"),
    ]),
    ("410700", "新乡市", "新乡", (35.30, 113.93), &[
        ("410702", "红旗区"), ("410703", "卫滨区"), ("410704", "凤泉区"), ("410711", "牧野区"),
        ("410721", "新乡县"), ("410724", "获嘉县"), ("410725", "原阳县"), ("410726", "延津县"),
        ("410727", "封丘县"), ("410781", "卫辉市"), ("410782", "辉县市"), ("410783", "长垣市"),
    ]),
    ("410800", "焦作市", "焦作", (35.22, 113.24), &[
        ("410802", "解放区"), ("410803", "中站区"), ("410804", "马村区"), ("410811", "山阳区"),
        ("410821", "修武县"), ("410822", "博爱县"), ("410823", "武陟县"), ("410825", "温县"),
        ("410882", "沁阳市"), ("410883", "孟州市"),
    ]),
    ("410900", "濮阳市", "濮阳", (35.76, 115.03), &[
        ("410902", "华龙区"), ("410922", "清丰县"), ("410923", "南乐县"), ("410926", "范县"),
        ("410927", "台前县"), ("410928", "濮阳县"),
    ]),
    ("411000", "许昌市", "许昌", (34.04, 113.85), &[
        ("411002", "魏都区"), ("411003", "建安区"), ("411024", "鄢陵县"), ("411025", "襄城县"),
        ("411081", "禹州市"), ("411082", "长葛市"),
    ]),
    ("411100", "漯河市", "漯河", (33.58, 114.02), &[
        ("411102", "源汇区"), ("411103", "郾城区"), ("411104", "召陵区"), ("411121", "舞阳县"), ("411122", "临颍县"),
    ]),
    ("411200", "三门峡市", "三门峡", (34.77, 111.20), &[
        ("411202", "湖滨区"), ("411203", "陕州区"), ("411221", "渑池县"), ("411224", "卢氏县"),
        ("411281", "义马市"), ("411282", "灵宝市"),
    ]),
    ("411300", "南阳市", "南阳", (33.00, 112.53), &[
        ("411302", "宛城区"), ("411303", "卧龙区"), ("411321", "南召县"), ("411322", "方城县"),
        ("411323", "西峡县"), ("411324", "镇平县"), ("411325", "内乡县"), ("411326", "淅川县"),
        ("411327", "社旗县"), ("411328", "唐河县"), ("411329", "新野县"), ("411330", "桐柏县"), ("411381", "邓州市"),
    ]),
    ("411400", "商丘市", "商丘", (34.41, 115.66), &[
        ("411402", "梁园区"), ("411403", "睢阳区"), ("411421", "民权县"), ("411422", "睢县"),
        ("411423", "宁陵县"), ("411424", "柘城县"), ("411425", "虞城县"), ("411426", "夏邑县"), ("411481", "永城市"),
    ]),
    ("411500", "信阳市", "信阳", (32.13, 114.09), &[
        ("411502", "浉河区"), ("411503", "平桥区"), ("411521", "罗山县"), ("411522", "光山县"),
        ("411523", "新县"), ("411524", "商城县"), ("411525", "固始县"), ("411526", "潢川县"),
        ("411527", "淮滨县"), ("411528", "息县"),
    ]),
    ("411600", "周口市", "周口", (33.63, 114.70), &[
        ("411602", "川汇区"), ("411603", "淮阳区"), ("411621", "扶沟县"), ("411622", "西华县"),
        ("411623", "商水县"), ("411624", "沈丘县"), ("411625", "郸城县"), ("411627", "太康县"),
        ("411628", "鹿邑县"), ("411681", "项城市"),
    ]),
    ("411700", "驻马店市", "驻马店", (32.98, 114.02), &[
        ("411702", "驿城区"), ("411721", "西平县"), ("411722", "上蔡县"), ("411723", "平舆县"),
        ("411724", "正阳县"), ("411725", "确山县"), ("411726", "泌阳县"), ("411727", "汝南县"),
        ("411728", "遂平县"), ("411729", "新蔡县"),
    ]),
    ("419000", "济源产城融合示范区", "济源", (35.07, 112.60), &[("419001", "济源市")]),
];

const TOWNSHIPS: &[&str] = &[
    "城关镇",
    "东城街道",
    "西城街道",
    "南关街道",
    "北关街道",
    "新华街道",
    "人民路街道",
    "建设路街道",
    "产业集聚区",
    "张庄镇",
    "李集镇",
    "王店镇",
    "刘集乡",
    "陈庄乡",
    "杨楼镇",
    "赵庄镇",
    "黄河街道",
    "柳林镇",
    "桥头镇",
    "石桥镇",
];

/// The departments of every county: (id suffix, name).
const COUNTY_DEPTS: [(&str, &str); 8] = [
    ("fin", "财政局"),
    ("land", "自然资源局"),
    ("hr", "人社局"),
    ("market", "市场监管局"),
    ("tax", "税务局"),
    ("housing", "住建局"),
    ("dev", "发改委"),
    ("industry", "工信局"),
];
/// The departments of every city and of the province: (id suffix, city's name, province's name).
const UPPER_DEPTS: [(&str, &str, &str); 4] = [
    ("dev", "发展和改革委员会", "省发展和改革委员会"),
    ("industry", "工业和信息化局", "省工业和信息化厅"),
    ("fin", "财政局", "省财政厅"),
    ("land", "自然资源和规划局", "省自然资源厅"),
];

/// The county department (index in `COUNTY_DEPTS`) and the city or province one (in `UPPER_DEPTS`)
/// that handle a category.
fn departments_for(c: Category) -> (usize, usize) {
    match c {
        Category::Financing => (0, 2),
        Category::Land => (1, 3),
        Category::Labour => (2, 1),
        Category::Approvals => (3, 0),
        Category::Utilities => (5, 0),
        Category::Legal => (3, 0),
        Category::Policy => (4, 2),
        Category::Market => (7, 1),
        _ => (6, 0),
    }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马",
    "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧", "程", "曹", "袁", "邓", "许", "傅",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "华",
    "平", "建国", "志强", "红梅", "海燕", "国庆", "春生", "晓东", "俊杰", "文博", "雪梅", "建华", "玉兰",
];
const PREFIX: &[&str] = &[
    "恒达", "中原", "天瑞", "华兴", "金岭", "鼎盛", "瑞丰", "豫能", "新航", "宏图", "安泰", "鑫源", "永盛", "天成",
    "金鼎", "豫丰", "润华", "森源", "黄河", "嵩岳", "伏牛", "光明", "东方", "博远",
];
/// (word in the name, industry)
const TRADES: &[(&str, &str)] = &[
    ("精密机械", "装备制造"),
    ("食品", "食品加工"),
    ("新材料", "新材料"),
    ("电子科技", "电子信息"),
    ("纺织", "纺织服装"),
    ("生物医药", "生物医药"),
    ("汽车零部件", "汽车制造"),
    ("物流", "现代物流"),
    ("化工", "化工"),
    ("建材", "建材"),
];
/// (category, title, description)
const PROBLEMS: &[(Category, &str, &str)] = &[
    (
        Category::Financing,
        "流动资金贷款难",
        "企业订单增长，需要流动资金贷款约500万元，缺少足值抵押物，希望协调合作银行",
    ),
    (Category::Financing, "申请技改贴息", "企业实施智能化改造，希望申请技术改造专项贴息资金"),
    (Category::Land, "扩建用地指标", "二期厂房扩建需要新增建设用地约20亩，希望协调用地指标"),
    (Category::Land, "不动产权证办理", "新建厂房已竣工验收，不动产权证迟迟未能办理"),
    (Category::Labour, "技术工人招工难", "数控操作工和电焊工缺口约30人，希望对接职业院校"),
    (Category::Labour, "稳岗返还申领", "企业符合稳岗返还条件，不清楚申领流程"),
    (Category::Approvals, "环评审批进度慢", "新生产线环评审批已超过两个月，影响按期投产"),
    (Category::Approvals, "生产许可证延续", "工业产品生产许可证即将到期，延续申请材料两次被退回"),
    (Category::Utilities, "用电容量不足", "新增设备后需要增容至2000千伏安"),
    (Category::Utilities, "天然气管道接入", "新厂区需要接入天然气管道，接入费用过高"),
    (Category::Legal, "货款拖欠纠纷", "下游客户拖欠货款约80万元，希望提供法律援助"),
    (Category::Policy, "研发费用加计扣除", "不清楚研发费用加计扣除的申报流程和归集口径"),
    (Category::Policy, "高新技术企业认定", "希望申报高新技术企业，需要政策辅导"),
    (Category::Market, "拓展销售渠道", "希望参加省级产销对接会，拓展省外市场"),
    (Category::Other, "厂区道路破损", "厂区门前道路破损，影响货车通行"),
];
const RESOLUTIONS: &[&str] = &[
    "已协调解决，企业诉求已落实",
    "已召开专题协调会，相关手续已办结",
    "已完成审批，证照已发放企业",
    "已对接合作银行完成授信，资金已到位",
    "已上门指导企业完成申报",
];
const PROGRESS: &[&str] = &[
    "已与企业对接，正在协调相关单位办理",
    "已现场查看，拟定办理方案",
    "已召开协调会，明确办理时限",
    "材料已受理，正在审核",
];
const VISIT_NOTES: &[&str] = &[
    "了解企业生产经营情况，企业订单饱满，运行平稳",
    "宣讲惠企政策，协助企业梳理可申报项目",
    "走访了解企业用工需求，已记录缺口岗位",
    "了解企业融资需求，介绍合作银行产品",
    "回访已办结问题，企业表示满意",
    "了解企业扩产计划及用地需求",
    "查看新生产线建设进度，协调解决施工问题",
];
const POLICY_TALKS: &[&str] =
    &["研发费用加计扣除", "稳岗返还", "技术改造专项资金", "专精特新企业奖补", "中小微企业贷款贴息"];
const NOTICE_TITLES: &[&str] = &[
    "报送本月走访台账",
    "开展惠企政策集中宣讲",
    "排查包联企业用工需求",
    "上报问题办理进展",
    "开展问题办结回头看",
    "组织银企对接活动",
    "核查包联企业基础信息",
    "报送季度助企工作总结",
];

// ---- deterministic randomness ----

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64, seeded per stream and item, so that whatever thread builds an item builds it alike.
struct Rng(u64);

const SEED: u64 = 0x2022_4100_0000_0001;
const ENTERPRISES: u64 = 1;
const PROBLEM_STREAM: u64 = 2;
const NOTICE_STREAM: u64 = 3;
const PLAN: u64 = 4;

impl Rng {
    fn new(stream: u64, item: u64) -> Rng {
        Rng(mix(SEED ^ mix(stream.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ mix(item))))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// A whole number in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo { lo } else { lo + (self.next() % (hi - lo + 1) as u64) as i64 }
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// A UUID v7 of the moment `at`, as devices give their events, with random bits from `rng`.
fn event_id(at: i64, rng: &mut Rng) -> String {
    let (a, b) = (rng.next().to_le_bytes(), rng.next().to_le_bytes());
    let random = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1]];
    uuid::Builder::from_unix_timestamp_millis(at.max(0) as u64, &random).into_uuid().to_string()
}

/// The Automerge actor of a device (one per device, as the apps and the relay's desk use).
fn actor_of(device: &str) -> ActorId {
    ActorId::from(&Sha256::digest(device.as_bytes())[..16])
}

fn person(rng: &mut Rng) -> String {
    format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN))
}

/// A mobile number (11 digits starting with 1).
fn mobile(rng: &mut Rng) -> String {
    format!("1{}{:08}", rng.pick(&["38", "39", "37", "58", "86", "55"]), rng.next() % 100_000_000)
}

/// `t`, or the next start of office hours (08:30–18:00 China Standard Time) when it falls outside them.
fn office_hours(t: i64, rng: &mut Rng) -> i64 {
    let local = t + CST;
    let (day, time) = (local.div_euclid(DAY), local.rem_euclid(DAY));
    let start = 8 * HOUR + 30 * MINUTE;
    if time < start {
        day * DAY + start + rng.between(0, 90) * MINUTE - CST
    } else if time > 18 * HOUR {
        (day + 1) * DAY + start + rng.between(0, 90) * MINUTE - CST
    } else {
        t
    }
}

/// A working-hours moment (09:00–17:00) on a day among the `days` days before `now`, before `now`.
fn day_time(now: i64, days: i64, rng: &mut Rng) -> i64 {
    let today = (now + CST).div_euclid(DAY);
    let day = today - rng.between(0, days - 1);
    let at = day * DAY + 9 * HOUR + rng.between(0, 8 * 60) * MINUTE - CST;
    if at > now - HOUR { now - HOUR - rng.between(0, 120) * MINUTE } else { at }
}

/// How long after acting a phone's change reaches the relay: minutes mostly, hours when the cadre
/// was in a factory without signal, a few days now and then, never beyond the offline window.
fn phone_delay(rng: &mut Rng) -> i64 {
    let r = rng.unit();
    if r < 0.65 {
        rng.between(1, 30) * MINUTE
    } else if r < 0.90 {
        rng.between(30, 12 * 60) * MINUTE
    } else if r < 0.99 {
        rng.between(12, 96) * HOUR
    } else {
        rng.between(96, 156) * HOUR
    }
}

/// A delay beyond the offline window: the event is entered late (补录).
fn late_delay(rng: &mut Rng) -> i64 {
    OFFLINE_WINDOW_MS + rng.between(1, 13) * DAY + rng.between(0, 600) * MINUTE
}

/// Splits `total` over `weights` (each share proportional, cumulative rounding, so the shares add
/// up to `total` exactly); with `at_least_one`, every share gets one first.
fn spread(total: usize, weights: &[u64], at_least_one: bool) -> Vec<usize> {
    let n = weights.len();
    let base = usize::from(at_least_one && total >= n);
    let rest = (total - base * n) as u128;
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum::<u128>().max(1);
    let (mut acc, mut given) = (0u128, 0usize);
    weights
        .iter()
        .map(|&w| {
            acc += u128::from(w);
            let upto = (rest * acc / sum) as usize;
            let share = base + upto - given;
            given = upto;
            share
        })
        .collect()
}

// ---- people ----

/// Who acts: a user, with their role and the device they act from.
#[derive(Clone)]
struct Who {
    id: String,
    role: Role,
    device: String,
    /// The relay's desk (a campaign office's web pages): the relay receives the event at its time.
    desk: bool,
}

impl Who {
    fn office(region: &str) -> Who {
        let id = office_id(region);
        Who { device: zhuqi_server::sync::author::relay_device_id(&id), id, role: Role::Manager, desk: true }
    }
    fn phone(id: String, role: Role) -> Who {
        Who { device: format!("phone-{id}"), id, role, desk: false }
    }
    fn cadre(i: usize) -> Who {
        Who::phone(cadre_id(i), Role::Cadre)
    }
    fn handler(dept: &str) -> Who {
        Who::phone(handler_id(dept), Role::DepartmentHandler)
    }
    fn contact(e: usize) -> Who {
        Who::phone(contact_id(e), Role::EnterpriseContact)
    }
    fn event<A>(&self, id: String, at: i64, seen: Option<&String>, action: A) -> Event<A> {
        Event {
            id,
            by: self.id.clone(),
            role: self.role,
            device: self.device.clone(),
            at,
            seen: seen.cloned().into_iter().collect(),
            origin: None,
            action,
        }
    }
}

pub fn office_id(region: &str) -> String {
    format!("office-{region}")
}
pub fn cadre_id(i: usize) -> String {
    format!("cadre-{i:06}")
}
pub fn enterprise_id(e: usize) -> String {
    format!("ent-{e:06}")
}
pub fn contact_id(e: usize) -> String {
    format!("contact-{e:06}")
}
fn handler_id(dept: &str) -> String {
    format!("handler-{}", dept.trim_start_matches("dept-"))
}
fn dept_id(region: &str, key: &str) -> String {
    format!("dept-{region}-{key}")
}

// ---- the plan: who and what goes where ----

struct CityPlan {
    id: String,
    name: String,
    short: &'static str,
    centre: (f64, f64),
    counties: Vec<usize>,
}

struct CountyPlan {
    id: String,
    name: String,
    city: usize,
    townships: Vec<String>,
    enterprises: std::ops::Range<usize>,
    cadres: std::ops::Range<usize>,
}

/// Everything the builders of documents share.
struct Plan {
    now: i64,
    cities: Vec<CityPlan>,
    counties: Vec<CountyPlan>,
    county_of_enterprise: Vec<u16>,
    /// The cadres assigned to each enterprise, the chief first.
    assigned: Vec<Vec<u32>>,
    /// Cumulative visits and problems: enterprise `e` has `visit_start[e]..visit_start[e + 1]`.
    visit_start: Vec<usize>,
    problem_start: Vec<usize>,
    dir: std::sync::Arc<Snapshot>,
    big: usize,
}

impl Plan {
    fn county_dept(&self, county: usize, k: usize) -> String {
        dept_id(&self.counties[county].id, COUNTY_DEPTS[k].0)
    }
    fn city_dept(&self, city: usize, k: usize) -> String {
        dept_id(&self.cities[city].id, UPPER_DEPTS[k].0)
    }
}

/// Writes the directory and every document of a campaign of `shape` into the relay's storage; each
/// account's password hash is `password_hash` (hashing one per account would take longer than
/// everything else). Every login equals its user id.
pub fn generate(state: &AppState, shape: &CampaignShape, password_hash: &str) -> Campaign {
    assert!((1..=CITIES.len()).contains(&shape.cities), "1 to {} cities", CITIES.len());
    let available: usize = CITIES[..shape.cities].iter().map(|c| c.4.len()).sum();
    assert!((shape.cities..=available).contains(&shape.counties), "{} to {available} counties", shape.cities);
    assert!(shape.cadres >= shape.counties, "at least one cadre a county");
    assert!(shape.enterprises >= shape.counties, "at least one enterprise a county");
    let storage = state.storage.as_ref();
    let now = shape.now.unwrap_or_else(zhuqi_server::now_ms);
    let mut counts = Counts::default();
    let mut rng = Rng::new(PLAN, 0);

    // Regions: the province, its cities, their counties in proportion to their real numbers, townships.
    let weights: Vec<u64> = CITIES[..shape.cities].iter().map(|c| c.4.len() as u64 - 1).collect();
    let per_city = spread(shape.counties, &weights, true);
    let mut cities = Vec::new();
    let mut counties = Vec::new();
    let mut regions =
        vec![Region { id: PROVINCE.into(), name: "河南省".into(), level: RegionLevel::Province, parent_id: None }];
    for (i, (id, name, short, centre, list)) in CITIES[..shape.cities].iter().enumerate() {
        regions.push(Region {
            id: (*id).into(),
            name: (*name).into(),
            level: RegionLevel::City,
            parent_id: Some(PROVINCE.into()),
        });
        let mut city = CityPlan { id: (*id).into(), name: (*name).into(), short, centre: *centre, counties: vec![] };
        for (cid, cname) in &list[..per_city[i]] {
            regions.push(Region {
                id: (*cid).into(),
                name: (*cname).into(),
                level: RegionLevel::County,
                parent_id: Some((*id).into()),
            });
            let townships: Vec<String> = (0..shape.townships_per_county.min(TOWNSHIPS.len()))
                .map(|t| {
                    let tid = format!("{cid}{:03}", t + 1);
                    regions.push(Region {
                        id: tid.clone(),
                        name: TOWNSHIPS[t].into(),
                        level: RegionLevel::Township,
                        parent_id: Some((*cid).into()),
                    });
                    tid
                })
                .collect();
            city.counties.push(counties.len());
            counties.push(CountyPlan {
                id: (*cid).into(),
                name: (*cname).into(),
                city: i,
                townships,
                enterprises: 0..0,
                cadres: 0..0,
            });
        }
        cities.push(city);
    }

    // Enterprises and cadres by county: the capital's counties larger, the first the largest.
    let county_weights: Vec<u64> = counties
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let city = match CITIES[c.city].0 {
                "410100" => 3,
                "410300" | "411300" => 2,
                _ => 1,
            };
            let w = city * (2 + rng.below(5) as u64);
            if i == 0 { w * 2 } else { w }
        })
        .collect();
    let (mut e0, mut c0) = (0, 0);
    for ((c, ne), nc) in counties.iter_mut().zip(spread(shape.enterprises, &county_weights, true)).zip(spread(
        shape.cadres,
        &county_weights,
        true,
    )) {
        c.enterprises = e0..e0 + ne;
        c.cadres = c0..c0 + nc;
        (e0, c0) = (e0 + ne, c0 + nc);
    }
    let mut county_of_enterprise = vec![0u16; shape.enterprises];
    for (i, c) in counties.iter().enumerate() {
        county_of_enterprise[c.enterprises.clone()].fill(i as u16);
    }

    // Departments and accounts.
    let mut departments = Vec::new();
    let mut accounts = Vec::new();
    let account = |user: User| Account { login: user.id.clone(), password_hash: Some(password_hash.into()), user };
    let plain = |id: String, name: String, role: Role| User {
        id,
        name,
        role,
        region_id: None,
        department_id: None,
        enterprise_id: None,
        mobile: None,
        position: None,
        unit: None,
    };
    let office = |region: &str, name: &str| User {
        region_id: Some(region.into()),
        position: Some("活动办".into()),
        ..plain(office_id(region), format!("{name}万人助万企活动办"), Role::Manager)
    };
    let mut handler = |d: &Department, departments: &mut Vec<Department>, accounts: &mut Vec<Account>| {
        accounts.push(account(User {
            department_id: Some(d.id.clone()),
            unit: Some(d.name.clone()),
            mobile: Some(mobile(&mut rng)),
            ..plain(handler_id(&d.id), format!("{}经办人", d.name), Role::DepartmentHandler)
        }));
        departments.push(d.clone());
    };
    accounts.push(account(office(PROVINCE, "河南省")));
    for (key, _, name) in UPPER_DEPTS {
        let d = Department { id: dept_id(PROVINCE, key), name: name.into(), region_id: PROVINCE.into() };
        handler(&d, &mut departments, &mut accounts);
    }
    for city in &cities {
        accounts.push(account(office(&city.id, &city.name)));
        for (key, name, _) in UPPER_DEPTS {
            let d = Department {
                id: dept_id(&city.id, key),
                name: format!("{}{name}", city.name),
                region_id: city.id.clone(),
            };
            handler(&d, &mut departments, &mut accounts);
        }
    }
    for county in &counties {
        accounts.push(account(office(&county.id, &county.name)));
        for (key, name) in COUNTY_DEPTS {
            let d = Department {
                id: dept_id(&county.id, key),
                name: format!("{}{name}", county.name),
                region_id: county.id.clone(),
            };
            handler(&d, &mut departments, &mut accounts);
        }
    }
    let dept_names: HashMap<String, String> = departments.iter().map(|d| (d.id.clone(), d.name.clone())).collect();
    for (c, county) in counties.iter().enumerate() {
        for i in county.cadres.clone() {
            let mut r = Rng::new(PLAN, 1_000_000 + i as u64);
            let dept = dept_id(&county.id, COUNTY_DEPTS[(i - county.cadres.start) % COUNTY_DEPTS.len()].0);
            accounts.push(account(User {
                region_id: Some(counties[c].id.clone()),
                unit: Some(dept_names[&dept].clone()),
                department_id: Some(dept),
                position: Some(if r.chance(0.3) { "首席服务官" } else { "助企干部" }.into()),
                mobile: Some(mobile(&mut r)),
                ..plain(cadre_id(i), person(&mut r), Role::Cadre)
            }));
        }
    }
    let contact_names: Vec<String> =
        (0..shape.enterprises).map(|e| person(&mut Rng::new(ENTERPRISES, e as u64))).collect();
    for (e, name) in contact_names.iter().enumerate() {
        accounts.push(account(User {
            enterprise_id: Some(enterprise_id(e)),
            position: Some("总经理".into()),
            ..plain(contact_id(e), name.clone(), Role::EnterpriseContact)
        }));
    }
    counts.regions = regions.len();
    counts.departments = departments.len();
    counts.accounts = accounts.len();
    counts.cadres = shape.cadres;
    storage.upsert_directory(&Directory { regions, departments, ..Default::default() }, &accounts).expect("directory");
    drop(accounts);
    let dir = state.directory.get(storage).expect("directory");

    // Assignments: every enterprise gets a chief cadre of its county in turn, and every cadre one
    // more enterprise besides; the first cadre of the first county is busy with many more, and the
    // first enterprise, the big one, has several cadres.
    let mut assigned: Vec<Vec<u32>> = vec![Vec::new(); shape.enterprises];
    for county in &counties {
        let (ents, cadres) = (county.enterprises.clone(), county.cadres.clone());
        let (ne, nc) = (ents.len(), cadres.len());
        for (j, e) in ents.clone().enumerate() {
            assigned[e].push((cadres.start + j % nc) as u32);
        }
        for (k, i) in cadres.clone().enumerate() {
            let e = ents.start + (k * 37 + 11) % ne;
            if !assigned[e].contains(&(i as u32)) {
                assigned[e].push(i as u32);
            }
        }
    }
    let (big, busy) = (counties[0].enterprises.start, counties[0].cadres.start);
    let extra = (shape.enterprises / 9_000).clamp(5, 15);
    for e in counties[0].enterprises.clone().skip(1).take(extra) {
        if !assigned[e].contains(&(busy as u32)) {
            assigned[e].push(busy as u32);
        }
    }
    for i in counties[0].cadres.clone().skip(1).take(2) {
        if !assigned[big].contains(&(i as u32)) {
            assigned[big].push(i as u32);
        }
    }
    counts.assignments = assigned.iter().map(Vec::len).sum();

    // Visits and problems per enterprise: uneven, the big enterprise with many of both.
    let (mut visit_w, mut problem_w) = (Vec::with_capacity(shape.enterprises), Vec::with_capacity(shape.enterprises));
    for e in 0..shape.enterprises {
        let mut r = Rng::new(PLAN, 2_000_000 + e as u64);
        let v = 1 + r.below(12) as u64;
        visit_w.push(if e == big { 40 + (shape.enterprises / 500) as u64 } else { v });
        problem_w.push(if e == big {
            20 + (shape.enterprises / 2_000) as u64
        } else {
            v.div_ceil(3) + r.below(2) as u64
        });
    }
    let prefix = |shares: Vec<usize>| {
        let mut start = Vec::with_capacity(shares.len() + 1);
        start.push(0);
        for s in shares {
            start.push(start.last().unwrap() + s);
        }
        start
    };
    let plan = Plan {
        now,
        cities,
        counties,
        county_of_enterprise,
        assigned,
        visit_start: prefix(spread(shape.visits, &visit_w, false)),
        problem_start: prefix(spread(shape.problems, &problem_w, false)),
        dir,
        big,
    };

    // Documents: enterprises (with their problems) built a chunk at a time on every core, stored in
    // chunk order, in commits of at most 500 documents.
    const CHUNK: usize = 300;
    let chunks = shape.enterprises.div_ceil(CHUNK);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).max(1);
    let next = AtomicUsize::new(0);
    let mut longest: (usize, String) = (0, String::new());
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Built)>(workers * 2);
        for _ in 0..workers {
            let (tx, plan, next, contact_names) = (tx.clone(), &plan, &next, &contact_names);
            s.spawn(move || {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= chunks {
                        break;
                    }
                    let range = k * CHUNK..((k + 1) * CHUNK).min(plan.assigned.len());
                    if tx.send((k, build_chunk(plan, range, contact_names))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut want = 0;
        for (k, built) in rx {
            waiting.insert(k, built);
            while let Some(built) = waiting.remove(&want) {
                store(state, built.writes, now);
                counts.add(&built.counts);
                if built.longest.0 > longest.0 {
                    longest = built.longest;
                }
                want += 1;
            }
        }
    });

    // Task notices.
    let mut notice_ids = Vec::new();
    let mut writes = Vec::new();
    for n in 0..shape.notices {
        let (id, write) = notice(&plan, n, &mut counts);
        writes.push(write);
        notice_ids.push(id);
    }
    store(state, writes, now);
    storage.after_bulk_load().expect("statistics");

    let county = &plan.counties[0];
    let city = &plan.cities[county.city];
    if longest.1.is_empty() {
        longest.1 = problem_id(plan.problem_start[big].min(shape.problems.saturating_sub(1)));
    }
    Campaign {
        now,
        province_office: office_id(PROVINCE),
        city: city.id.clone(),
        city_office: office_id(&city.id),
        county: county.id.clone(),
        county_office: office_id(&county.id),
        busy_cadre: cadre_id(busy),
        big_enterprise: enterprise_id(big),
        problem: longest.1,
        cities: plan.cities.iter().map(|c| c.id.clone()).collect(),
        counties: plan.counties.iter().map(|c| c.id.clone()).collect(),
        cadres: (0..shape.cadres).map(cadre_id).collect(),
        enterprises: (0..shape.enterprises).map(enterprise_id).collect(),
        problems: (0..shape.problems).map(problem_id).collect(),
        notices: notice_ids,
        counts,
    }
}

fn problem_id(p: usize) -> String {
    format!("prb-{p:06}")
}

/// Stores documents in commits of at most 500 (each one transaction).
fn store(state: &AppState, mut writes: Vec<DocWrite>, now: i64) {
    while !writes.is_empty() {
        let rest = writes.split_off(writes.len().min(500));
        let commit =
            Commit { user_id: "generator".into(), device_id: "generator".into(), received_at: now, docs: writes };
        state.storage.commit(&[&commit]).expect("store generated documents");
        writes = rest;
    }
}

/// The documents of a chunk of enterprises, with what they hold.
struct Built {
    writes: Vec<DocWrite>,
    counts: Counts,
    /// The big enterprise's problem with the most events: (events, id).
    longest: (usize, String),
}

/// The document of a log of events, each with its receipt, as the relay stores it.
fn doc_write<A: serde::Serialize>(
    dir: &Snapshot,
    kind: DocKind,
    id: &str,
    header: &[(&str, &str)],
    events: &[(Event<A>, i64)],
) -> DocWrite {
    let accepted = |c: automerge::Change, e: &Event<A>, receipt: i64| AcceptedChange {
        hash: c.hash().as_ref().to_vec(),
        bytes: c.raw_bytes().to_vec(),
        events: vec![(e.id.clone(), Some(receipt))],
    };
    let ((first, r0), rest) = events.split_first().expect("a document has events");
    let (mut doc, change) = Document::create(kind, id, header, actor_of(&first.device), first).expect("create");
    let mut changes = vec![accepted(change, first, *r0)];
    for (e, receipt) in rest {
        doc.set_actor(actor_of(&e.device));
        changes.push(accepted(doc.append(e).expect("append"), e, *receipt));
    }
    let projection = zhuqi_server::storage::projection::project(kind, &doc);
    let keys = zhuqi_server::storage::scope::doc_keys(id, &projection, dir);
    DocWrite { doc_id: id.into(), kind, changes, snapshot: Some(doc.save()), keys, projection, base_seq: 0 }
}

/// Receipts of a linear log in time order, each event arriving `delay` after its own time but never
/// after `now`, never after the next change (which depends on it), and never after the next event's
/// own time when another device wrote that one (its author had seen this event).
fn receipts(log: &[(i64, &str, i64)], now: i64) -> Vec<i64> {
    let mut out = vec![0; log.len()];
    let mut limit = now;
    for i in (0..log.len()).rev() {
        let (at, device, delay) = log[i];
        let r = at.saturating_add(delay).min(limit).max(at);
        out[i] = r;
        limit = if i > 0 && log[i - 1].1 != device { r.min(at) } else { r };
    }
    out
}

/// A place near `centre`, as a phone reports it.
fn near(centre: (f64, f64), spread_deg: f64, rng: &mut Rng) -> Location {
    let off = |rng: &mut Rng| (rng.unit() * 2.0 - 1.0) * spread_deg;
    let round = |v: f64| (v * 1e6).round() / 1e6;
    Location {
        lat: round(centre.0 + off(rng)),
        lon: round(centre.1 + off(rng)),
        accuracy_m: rng.between(5, 60) as f64,
        mock: false,
    }
}

fn build_chunk(plan: &Plan, range: std::ops::Range<usize>, contact_names: &[String]) -> Built {
    let mut built = Built { writes: Vec::new(), counts: Counts::default(), longest: (0, String::new()) };
    for e in range {
        enterprise(plan, e, &contact_names[e], &mut built);
    }
    built
}

/// A visit as the enterprise's document holds it, for the problems reported from it.
struct VisitMade {
    id: String,
    cadre: usize,
    at: i64,
    receipt: i64,
}

/// Writes enterprise `e`: registered, its cadres assigned, its visits, then its problems.
fn enterprise(plan: &Plan, e: usize, contact: &str, built: &mut Built) {
    let now = plan.now;
    let mut rng = Rng::new(ENTERPRISES, e as u64);
    let _ = person(&mut rng); // the contact's name, drawn first (see `generate`)
    let c = plan.county_of_enterprise[e] as usize;
    let county = &plan.counties[c];
    let city = &plan.cities[county.city];
    let region = if rng.chance(0.85) { rng.pick(&county.townships).clone() } else { county.id.clone() };
    let (word, industry) = *rng.pick(TRADES);
    let name = format!("{}{}{}有限公司", city.short, rng.pick(PREFIX), word);
    let mut tags = Vec::new();
    for (tag, p) in [("above_scale", 0.3), ("srdi", 0.08), ("high_tech", 0.1), ("little_giant", 0.01)] {
        if rng.chance(p) {
            tags.push(tag.to_string());
        }
    }
    let place = near(city.centre, 0.25, &mut rng);
    let profile = Profile {
        name: name.clone(),
        uscc: uscc::complete(&format!("91{}{:09}", county.id, e)).expect("generated credit code"),
        region_id: region.clone(),
        industry: industry.into(),
        tags,
        address: format!(
            "{}{}路{}号",
            county.name,
            rng.pick(&["建设", "人民", "工业", "文化", "中州", "黄河"]),
            1 + rng.below(300)
        ),
        location: Some(place),
        contacts: vec![Contact { name: contact.into(), title: "总经理".into(), phone: mobile(&mut rng) }],
        scale: Scale {
            employees: Some(5 + rng.below(1_500) as u32),
            revenue: Some(100 + rng.below(80_000) as u64),
            founded: Some(format!("{}-{:02}-{:02}", 1985 + rng.below(38), 1 + rng.below(12), 1 + rng.below(28))),
        },
    };

    // Registered by the county's office before the year began, its cadres assigned the same day.
    let office = Who::office(&county.id);
    let registered = office_hours(now - 365 * DAY - rng.between(3, 60) * DAY, &mut rng);
    let mut log: Vec<(Who, i64, EnterpriseAction)> =
        vec![(office.clone(), registered, EnterpriseAction::Registered { profile })];
    let cadres = &plan.assigned[e];
    let mut at = registered;
    for (n, &i) in cadres.iter().enumerate() {
        at += rng.between(1, 20) * MINUTE;
        log.push((
            office.clone(),
            at,
            EnterpriseAction::CadreAssigned { cadre_id: cadre_id(i as usize), chief: n == 0 },
        ));
    }

    // Visits over the year by its cadres, the chief most often.
    let n_visits = plan.visit_start[e + 1] - plan.visit_start[e];
    let mut times: Vec<i64> = (0..n_visits).map(|_| day_time(now, 365, &mut rng)).collect();
    times.sort_unstable();
    let mut visits: Vec<VisitMade> = Vec::with_capacity(n_visits);
    let mut delays = Vec::with_capacity(log.len() + n_visits);
    delays.extend(std::iter::repeat_n(0, log.len()));
    for at in times {
        let cadre = if cadres.len() == 1 || rng.chance(0.7) { cadres[0] } else { *rng.pick(&cadres[1..]) } as usize;
        let mut people = vec![contact.to_owned()];
        if rng.chance(0.3) {
            people.push(format!("{}经理", rng.pick(SURNAMES)));
        }
        let policies = if rng.chance(0.3) { vec![rng.pick(POLICY_TALKS).to_string()] } else { vec![] };
        let visit = VisitRecord {
            id: event_id(at, &mut rng),
            date: date_of(at),
            people_met: people,
            notes: rng.pick(VISIT_NOTES).to_string(),
            policies,
            policy_ids: vec![],
            location: Some(near((place.lat, place.lon), 0.002, &mut rng)),
            photos: vec![],
        };
        delays.push(if rng.chance(0.004) { late_delay(&mut rng) } else { phone_delay(&mut rng) });
        visits.push(VisitMade { id: visit.id.clone(), cadre, at, receipt: 0 });
        log.push((Who::cadre(cadre), at, EnterpriseAction::VisitRecorded { visit }));
    }
    let stamps: Vec<(i64, &str, i64)> =
        log.iter().zip(&delays).map(|((who, at, _), d)| (*at, who.device.as_str(), *d)).collect();
    let got = receipts(&stamps, now);
    let first_visit = log.len() - visits.len();
    for (v, r) in visits.iter_mut().zip(&got[first_visit..]) {
        v.receipt = *r;
    }
    let mut events: Vec<(Event<EnterpriseAction>, i64)> = Vec::with_capacity(log.len());
    for ((who, at, action), receipt) in log.into_iter().zip(got) {
        let ev = who.event(event_id(at, &mut rng), at, events.last().map(|(p, _)| &p.id), action);
        events.push((ev, receipt));
    }
    let id = enterprise_id(e);
    built.counts.enterprises += 1;
    built.counts.visits += visits.len();
    built.counts.late_visits += visits.iter().filter(|v| v.receipt - v.at > OFFLINE_WINDOW_MS).count();
    built.counts.documents += 1;
    built.counts.changes += events.len();
    built.writes.push(doc_write(&plan.dir, DocKind::Enterprise, &id, &[], &events));
    drop(events);

    // Its problems.
    for p in plan.problem_start[e]..plan.problem_start[e + 1] {
        let mut rng = Rng::new(PROBLEM_STREAM, p as u64);
        let (category, title, description) = *rng.pick(PROBLEMS);
        let choices = Choices::draw(&mut rng, p);
        // Reported by a cadre from one of the visits mostly, by the enterprise itself now and then.
        // A problem whose course is set (see `Choices::draw`) was reported long enough ago to
        // have run it, or, waiting for the enterprise's answer, a few weeks ago.
        let by_contact = rng.chance(if visits.is_empty() || choices.set { 0.5 } else { 0.15 });
        let (reporter, at, receipt, visit_id) = if !by_contact && !visits.is_empty() && !choices.set {
            let v = &visits[rng.below(visits.len())];
            let at = (v.at + rng.between(5, 40) * MINUTE).min(now);
            (Who::cadre(v.cadre), at, v.receipt.max(at).min(now), Some(v.id.clone()))
        } else {
            let at = match (choices.set, choices.answer) {
                (false, _) => day_time(now, 365, &mut rng),
                (true, Answer::Pending) => day_time(now - 60 * DAY, 30, &mut rng),
                (true, _) => day_time(now - 240 * DAY, 125, &mut rng),
            };
            let who = if by_contact { Who::contact(e) } else { Who::cadre(cadres[0] as usize) };
            (who, at, (at + phone_delay(&mut rng)).min(now), None)
        };
        let report = ProblemAction::Reported {
            enterprise_id: id.clone(),
            category,
            title: title.into(),
            description: description.into(),
            visit_id,
            photos: vec![],
        };
        let mut life = Life {
            plan,
            rng,
            choices,
            county: c,
            enterprise: e,
            contact,
            category,
            events: Vec::new(),
            state: ProblemState::default(),
            cursor: at,
            cut: false,
            late_resolutions: 0,
            rerouted: false,
            rejected: false,
        };
        life.record(&reporter, at, receipt, report);
        life.run(&reporter);
        let pid = problem_id(p);
        let header =
            [("enterprise_id", id.as_str()), ("enterprise_name", name.as_str()), ("region_id", region.as_str())];
        life.tally(&mut built.counts, now);
        if e == plan.big && life.events.len() > built.longest.0 {
            built.longest = (life.events.len(), pid.clone());
        }
        built.writes.push(doc_write(&plan.dir, DocKind::Problem, &pid, &header, &life.events));
    }
}

/// What the enterprise (or the office, for it) makes of a resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Rejected by the enterprise: handled again.
    Reject,
    /// A call-back finds it not solved: handled again.
    CallBackNo,
    /// Confirmed by the enterprise with a rating.
    Confirm,
    /// Accepted on a call-back (代确认), with a rating.
    CallBack,
    /// Nobody answered within the window: closed as 超时未确认 (within ten days of the window's
    /// end, or much later).
    Unanswered { late: bool },
    /// No answer yet.
    Pending,
}

/// The course of a problem, drawn before it is written (each step happens only if its time comes
/// before `now`).
#[derive(Debug, Clone, Copy)]
struct Choices {
    /// Forced by the problem's number rather than drawn: every course is taken by a few problems
    /// of any shape, whatever the draws.
    set: bool,
    withdraw: bool,
    /// Never taken up (stays reported), or accepted and never routed.
    untouched: bool,
    accept: bool,
    stay_accepted: bool,
    wrong_department: bool,
    level_two: bool,
    progress: bool,
    /// Escalated: to level 2, then (each if the one before) to the city (3), its leaders (4), the
    /// province (5).
    escalate: bool,
    to_city: bool,
    to_leaders: bool,
    to_province: bool,
    /// Never resolved: open, urged, overdue.
    stuck: bool,
    /// Resolved after its deadline, urged before.
    late: bool,
    /// The resolution reaches the relay beyond the offline window.
    entered_late: bool,
    answer: Answer,
    /// Confirmed and closed (销号), or left confirmed.
    close: bool,
    follow_up: bool,
    still_solved: bool,
}

impl Choices {
    fn draw(rng: &mut Rng, p: usize) -> Choices {
        let roll = rng.unit();
        let answer = {
            let a = rng.unit();
            if a < 0.06 {
                Answer::Reject
            } else if a < 0.07 {
                Answer::CallBackNo
            } else if a < 0.72 {
                Answer::Confirm
            } else if a < 0.85 {
                Answer::CallBack
            } else {
                Answer::Unanswered { late: a >= 0.95 }
            }
        };
        let escalate = rng.chance(0.08);
        let to_city = escalate && rng.chance(0.5);
        let c = Choices {
            set: false,
            withdraw: roll < 0.02,
            untouched: (0.02..0.03).contains(&roll),
            accept: rng.chance(0.6),
            stay_accepted: rng.chance(0.01),
            wrong_department: rng.chance(0.05),
            level_two: rng.chance(0.15),
            progress: rng.chance(0.4),
            escalate,
            to_city,
            to_leaders: to_city && rng.chance(0.3),
            to_province: to_city && rng.chance(0.3),
            stuck: rng.chance(0.04),
            late: rng.chance(0.15),
            entered_late: rng.chance(0.03),
            answer,
            close: rng.chance(0.92),
            follow_up: rng.chance(0.08),
            still_solved: rng.chance(0.85),
        };
        // Forced courses: one problem in a hundred each.
        let plain = Choices {
            set: true,
            withdraw: false,
            untouched: false,
            stay_accepted: false,
            wrong_department: false,
            escalate: false,
            to_city: false,
            to_leaders: false,
            to_province: false,
            stuck: false,
            late: false,
            entered_late: false,
            answer: Answer::Confirm,
            close: true,
            follow_up: false,
            ..c
        };
        match p % 100 {
            0 => Choices { withdraw: true, ..plain },
            1 => Choices { untouched: true, ..plain },
            2 => Choices { accept: true, untouched: true, ..plain },
            3 => Choices { escalate: true, to_city: true, to_leaders: true, to_province: true, ..plain },
            4 => Choices { answer: Answer::Unanswered { late: false }, ..plain },
            5 => Choices { answer: Answer::CallBack, ..plain },
            6 => Choices { entered_late: true, ..plain },
            7 => Choices { answer: Answer::Reject, ..plain },
            8 => Choices { stuck: true, ..plain },
            9 => Choices { follow_up: true, still_solved: false, ..plain },
            10 => Choices { wrong_department: true, late: true, ..plain },
            11 => Choices { answer: Answer::CallBackNo, ..plain },
            12 => Choices { answer: Answer::Pending, ..plain },
            13 => Choices { close: false, ..plain },
            _ => c,
        }
    }
}

/// A problem's life, written event by event up to `now`.
struct Life<'a> {
    plan: &'a Plan,
    rng: Rng,
    choices: Choices,
    county: usize,
    enterprise: usize,
    contact: &'a str,
    category: Category,
    events: Vec<(Event<ProblemAction>, i64)>,
    state: ProblemState,
    /// No event is dated before this: the last event's receipt (whoever acts next has seen it).
    cursor: i64,
    /// An event fell after `now`: the problem stands where it is.
    cut: bool,
    late_resolutions: usize,
    rerouted: bool,
    rejected: bool,
}

impl Life<'_> {
    fn county_office(&self) -> Who {
        Who::office(&self.plan.counties[self.county].id)
    }

    /// The campaign office of a handling level (1–2 the county's, 3–4 the city's, 5 the province's).
    fn office_of(&self, level: u8) -> Who {
        let county = &self.plan.counties[self.county];
        match level {
            5 => Who::office(PROVINCE),
            3 | 4 => Who::office(&self.plan.cities[county.city].id),
            _ => Who::office(&county.id),
        }
    }

    fn handler(&self) -> Who {
        Who::handler(self.state.department_id.as_deref().expect("routed"))
    }

    fn record(&mut self, who: &Who, at: i64, receipt: i64, action: ProblemAction) {
        let seen = self.events.last().map(|(e, _)| e.id.clone());
        let event = who.event(event_id(at, &mut self.rng), at, seen.as_ref(), action);
        if let Err(err) = self.state.apply(&event) {
            panic!("generated problem event {} does not fit: {err}", event.action.kind());
        }
        self.cursor = receipt;
        self.events.push((event, receipt));
    }

    /// `who` acts at `at` (not before the last receipt; a desk action in office hours), with the
    /// action built from the moment it is taken; the phone's change reaches the relay `delay` later
    /// (a usual delay when `None`). Returns false, writing nothing, when the event would come
    /// after `now` or reach the relay after it; nothing more is written then.
    fn act_with(&mut self, who: &Who, at: i64, delay: Option<i64>, action: impl FnOnce(i64) -> ProblemAction) -> bool {
        if self.cut {
            return false;
        }
        let mut at = at.max(self.cursor + MINUTE);
        if who.desk {
            at = office_hours(at, &mut self.rng);
        }
        let receipt = if who.desk { at } else { at + delay.unwrap_or_else(|| phone_delay(&mut self.rng)) };
        if receipt > self.plan.now {
            self.cut = true;
            return false;
        }
        let action = action(at);
        self.record(who, at, receipt, action);
        true
    }

    /// `who` acts some time in `after` (from the last receipt).
    fn act(&mut self, who: &Who, after: (i64, i64), action: impl FnOnce(i64) -> ProblemAction) -> bool {
        let at = self.cursor + self.rng.between(after.0, after.1);
        self.act_with(who, at, None, action)
    }

    /// From the report to where the problem stands at `now`.
    fn run(&mut self, reporter: &Who) {
        let ch = self.choices;
        let office = self.county_office();
        if ch.withdraw {
            let reason = self.rng.pick(&["企业已自行解决", "重复上报", "诉求已通过其他渠道解决"]).to_string();
            self.act(reporter, (HOUR, 20 * HOUR), |_| ProblemAction::Withdrawn { reason });
            return;
        }
        if ch.accept || ch.stay_accepted {
            let note = if self.rng.chance(0.5) { "已受理".to_string() } else { String::new() };
            if !self.act(&office, (2 * HOUR, 2 * DAY), |_| ProblemAction::Accepted { note }) || ch.stay_accepted {
                return;
            }
        }
        if ch.untouched {
            return; // overdue once past the acceptance limit
        }
        // Routed (交办) within the acceptance limit mostly, to the department of its category; now
        // and then first to the wrong one and re-routed.
        let (own, _) = departments_for(self.category);
        let first = if ch.wrong_department {
            (own + 1 + self.rng.below(COUNTY_DEPTS.len() - 1)) % COUNTY_DEPTS.len()
        } else {
            own
        };
        let level = if ch.level_two { 2 } else { 1 };
        let allotted = *self.rng.pick(&[5, 7, 10, 15, 15, 20, 30]) * DAY;
        let delay = if ch.set || self.rng.chance(0.92) { (HOUR, 60 * HOUR) } else { (3 * DAY, 7 * DAY) };
        let route = |dept: String, note: &str| {
            let note = note.to_owned();
            move |at: i64| ProblemAction::Routed { department_id: dept, level, deadline: at + allotted, note }
        };
        if !self.act(&office, delay, route(self.plan.county_dept(self.county, first), "请按时限办理并反馈")) {
            return;
        }
        if ch.wrong_department {
            self.rerouted = true;
            let dept = self.plan.county_dept(self.county, own);
            if !self.act(&office, (4 * HOUR, 3 * DAY), route(dept, "原交办单位职责不符，改派")) {
                return;
            }
        }
        if ch.progress {
            let note = self.rng.pick(PROGRESS).to_string();
            if !self.act(&self.handler(), (4 * HOUR, 4 * DAY), |_| ProblemAction::Progress { note, photos: vec![] }) {
                return;
            }
        }
        if ch.escalate && !self.escalate() {
            return;
        }
        // Past its deadline: urged by the office of its level.
        if ch.stuck || ch.late {
            let urges = if ch.stuck { 1 + self.rng.below(3) } else { 1 };
            for _ in 0..urges {
                let deadline = self.state.deadline.expect("routed");
                let at = deadline.max(self.cursor) + self.rng.between(HOUR, 2 * DAY);
                let note = self.rng.pick(&["已超过办理时限，请加快办理", "请于三日内反馈办理进展"]).to_string();
                let urger = self.office_of(self.state.level);
                if !self.act_with(&urger, at, None, |_| ProblemAction::Urged { note }) {
                    return;
                }
            }
        }
        if ch.stuck {
            return; // open and overdue
        }
        if !self.resolve(ch.late, ch.entered_late) {
            return;
        }
        self.answer();
    }

    /// Escalated (提级督办) up the levels: the county's weekly meeting, then the city's (to a city
    /// department, with a new deadline), its leaders, the province's platform.
    fn escalate(&mut self) -> bool {
        let ch = self.choices;
        let office = self.county_office();
        if self.state.level < 2 {
            let reason = "县级周例会研究，提级督办".to_string();
            let esc = |_| ProblemAction::Escalated { level: 2, reason, department_id: None, deadline: None };
            if !self.act(&office, (DAY, 4 * DAY), esc) {
                return false;
            }
        }
        if !ch.to_city {
            return true;
        }
        let (_, upper) = departments_for(self.category);
        let county = &self.plan.counties[self.county];
        let city = Who::office(&self.plan.cities[county.city].id);
        let dept = self.plan.city_dept(county.city, upper);
        let esc = |at: i64| ProblemAction::Escalated {
            level: 3,
            reason: "涉及跨部门协调，提交市级周例会研究".into(),
            department_id: Some(dept),
            deadline: Some(at + 15 * DAY),
        };
        if !self.act(&city, (2 * DAY, 6 * DAY), esc) {
            return false;
        }
        if ch.to_leaders {
            let esc = |_| ProblemAction::Escalated {
                level: 4,
                reason: "提请市领导督办".into(),
                department_id: None,
                deadline: None,
            };
            if !self.act(&city, (2 * DAY, 8 * DAY), esc) {
                return false;
            }
        }
        if ch.to_province {
            let dept = dept_id(PROVINCE, UPPER_DEPTS[upper].0);
            let esc = |at: i64| ProblemAction::Escalated {
                level: 5,
                reason: "需省级部门协调，提交省平台".into(),
                department_id: Some(dept),
                deadline: Some(at + 20 * DAY),
            };
            if !self.act(&Who::office(PROVINCE), (2 * DAY, 6 * DAY), esc) {
                return false;
            }
        }
        true
    }

    /// Resolved (办结) by the handler of its department, before the deadline or, when `late`, after
    /// it; `entered_late`, the handler's phone syncs it beyond the offline window.
    fn resolve(&mut self, late: bool, entered_late: bool) -> bool {
        let deadline = self.state.deadline.expect("routed");
        let at = if late || deadline <= self.cursor + HOUR {
            deadline.max(self.cursor) + self.rng.between(DAY, 20 * DAY)
        } else {
            let span = deadline - self.cursor;
            self.cursor + (span as f64 * (0.2 + 0.75 * self.rng.unit())) as i64
        };
        let delay = entered_late.then(|| late_delay(&mut self.rng));
        let resolution = self.rng.pick(RESOLUTIONS).to_string();
        let handler = self.handler();
        let done = self.act_with(&handler, at, delay, |_| ProblemAction::Resolved { resolution, photos: vec![] });
        if done && entered_late {
            self.late_resolutions += 1;
        }
        done
    }

    fn rating(&mut self) -> u8 {
        let r = self.rng.unit();
        if r < 0.78 {
            5
        } else if r < 0.93 {
            4
        } else if r < 0.97 {
            3
        } else if r < 0.99 {
            2
        } else {
            1
        }
    }

    /// After a resolution: the enterprise confirms or rejects it, or the office calls back or closes
    /// it unanswered; confirmed problems are closed (销号), some followed up (回头看). A problem
    /// that reopens is handled again and answered once more.
    fn answer(&mut self) {
        let ch = self.choices;
        let office = self.county_office();
        let contact = Who::contact(self.enterprise);
        let mut answer = ch.answer;
        for round in 0..3 {
            if round > 0 {
                answer = match self.rng.unit() {
                    a if a < 0.75 => Answer::Confirm,
                    a if a < 0.9 => Answer::CallBack,
                    _ => Answer::Unanswered { late: false },
                };
            }
            let closed = match answer {
                Answer::Pending => return,
                Answer::Reject => {
                    let reason = self.rng.pick(&["问题未实际解决", "办理结果与企业诉求不符"]).to_string();
                    if !self.act(&contact, (DAY, 5 * DAY), |_| ProblemAction::Rejected { reason }) {
                        return;
                    }
                    self.rejected = true;
                    if !self.resolve(false, false) {
                        return;
                    }
                    continue;
                }
                Answer::CallBackNo => {
                    let person = self.contact.to_owned();
                    let called = |_| ProblemAction::CalledBack {
                        contact: person,
                        accepted: false,
                        rating: None,
                        note: "企业反映问题仍未解决".into(),
                    };
                    if !self.act(&office, (3 * DAY, 10 * DAY), called) || !self.resolve(false, false) {
                        return;
                    }
                    continue;
                }
                Answer::Confirm => {
                    let rating = self.rating();
                    let comment = ["不满意", "办理效率有待提高", "基本满意", "满意", "非常满意，办理及时"]
                        [rating as usize - 1]
                        .to_string();
                    if !self.act(&contact, (12 * HOUR, 7 * DAY), |_| ProblemAction::Confirmed { rating, comment }) {
                        return;
                    }
                    false
                }
                Answer::CallBack => {
                    let rating = Some(self.rating());
                    let person = self.contact.to_owned();
                    let called = |_| ProblemAction::CalledBack {
                        contact: person,
                        accepted: true,
                        rating,
                        note: "电话回访，企业认可办理结果".into(),
                    };
                    if !self.act(&office, (3 * DAY, 12 * DAY), called) {
                        return;
                    }
                    false
                }
                Answer::Unanswered { late } => {
                    let resolved = self.state.resolved_at.expect("resolved");
                    let after = self.rng.between(HOUR, if late { 45 * DAY } else { 10 * DAY });
                    let close = |_| ProblemAction::ClosedUnanswered {
                        note: "企业超过15日未确认，按规定销号".into(),
                        answer_days: Some(15),
                    };
                    if !self.act_with(&office, resolved + 15 * DAY + after, None, close) {
                        return;
                    }
                    true
                }
            };
            if !closed {
                let close = |_| ProblemAction::Closed { note: "企业已确认，予以销号".into() };
                if !ch.close || !self.act(&office, (DAY, 5 * DAY), close) {
                    return; // confirmed, not closed (yet)
                }
            }
            if round > 0 || !ch.follow_up {
                return;
            }
            // Followed up (回头看) by the office or the chief cadre; not solved after all, it reopens.
            let by = if self.rng.chance(0.5) {
                office.clone()
            } else {
                Who::cadre(self.plan.assigned[self.enterprise][0] as usize)
            };
            let still_solved = ch.still_solved;
            let note = if still_solved {
                "回头看：问题已彻底解决，企业无新诉求"
            } else {
                "回头看：问题出现反复，重新交办"
            };
            let follow = |_| ProblemAction::FollowedUp { note: note.into(), still_solved };
            if !self.act(&by, (20 * DAY, 60 * DAY), follow) || still_solved || !self.resolve(false, false) {
                return;
            }
        }
    }

    fn tally(&self, c: &mut Counts, now: i64) {
        let s = &self.state;
        c.problems += 1;
        c.documents += 1;
        c.changes += self.events.len();
        c.problem_events += self.events.len();
        if s.reported_by_role == Some(Role::EnterpriseContact) {
            c.reported_by_enterprise += 1;
        }
        *c.by_status.entry(s.status.as_str().into()).or_default() += 1;
        c.above_level_one += usize::from(s.level > 1);
        c.escalated += usize::from(s.escalation_count > 0);
        c.at_province += usize::from(s.level == 5);
        c.rerouted += usize::from(self.rerouted);
        c.urged += usize::from(s.urge_count > 0);
        c.reopened += usize::from(s.reopen_count > 0);
        c.rejected += usize::from(self.rejected);
        c.followed_up += usize::from(s.follow_up_count > 0);
        if let Some(by) = s.confirmation {
            *c.by_confirmation.entry(by.as_str().into()).or_default() += 1;
        }
        c.late_resolutions += self.late_resolutions;
        c.resolved_late += usize::from(s.resolved_on_time() == Some(false));
        c.overdue += usize::from(s.is_overdue(now));
    }
}

/// Task notice `n`: issued by a county's, a city's or the province's office to its departments
/// (and a county's to some of its cadres), acknowledged and completed by most, some late.
fn notice(plan: &Plan, n: usize, counts: &mut Counts) -> (String, DocWrite) {
    let now = plan.now;
    let mut rng = Rng::new(NOTICE_STREAM, n as u64);
    let (region, recipients): (String, Vec<Recipient>) = match n % 10 {
        1 => {
            let mut r: Vec<Recipient> =
                UPPER_DEPTS.iter().map(|d| Recipient::Department(dept_id(PROVINCE, d.0))).collect();
            for city in 0..plan.cities.len() {
                r.extend((0..UPPER_DEPTS.len()).map(|k| Recipient::Department(plan.city_dept(city, k))));
            }
            (PROVINCE.into(), r)
        }
        2 | 5 | 8 => {
            let city = (n * 5) % plan.cities.len();
            let mut r: Vec<Recipient> =
                (0..UPPER_DEPTS.len()).map(|k| Recipient::Department(plan.city_dept(city, k))).collect();
            let k = rng.below(COUNTY_DEPTS.len());
            r.extend(plan.cities[city].counties.iter().map(|&c| Recipient::Department(plan.county_dept(c, k))));
            (plan.cities[city].id.clone(), r)
        }
        _ => {
            let c = if n == 0 { 0 } else { (n * 7) % plan.counties.len() };
            let county = &plan.counties[c];
            let mut r: Vec<Recipient> =
                (0..COUNTY_DEPTS.len()).map(|k| Recipient::Department(plan.county_dept(c, k))).collect();
            let skip = rng.below(county.cadres.len());
            r.extend(county.cadres.clone().skip(skip).take(20).map(|i| Recipient::Cadre(cadre_id(i))));
            (county.id.clone(), r)
        }
    };
    let issuer = Who::office(&region);
    let issued = office_hours(day_time(now, 364, &mut rng) - DAY, &mut rng).min(now - DAY);
    let deadline = issued + rng.between(7, 20) * DAY;
    let title = rng.pick(NOTICE_TITLES).to_string();
    let body = format!("请各单位于期限前完成“{title}”工作，并在系统中反馈完成情况。");
    let mut acts: Vec<(i64, Who, TaskNoticeAction)> = Vec::new();
    counts.notices += 1;
    counts.notice_recipients += recipients.len();
    for r in &recipients {
        let who = match r {
            Recipient::Department(d) => Who::handler(d),
            Recipient::Cadre(c) => Who::phone(c.clone(), Role::Cadre),
            Recipient::Unknown { .. } => unreachable!("generated recipients are known"),
        };
        if !rng.chance(0.92) {
            continue;
        }
        let ack = issued + rng.between(HOUR, 3 * DAY);
        acts.push((ack, who.clone(), TaskNoticeAction::Acknowledged { recipient: r.clone() }));
        if !rng.chance(0.85) {
            continue;
        }
        let done = if rng.chance(0.8) && ack + 2 * HOUR < deadline - HOUR {
            rng.between(ack + HOUR, deadline - HOUR)
        } else {
            deadline + rng.between(HOUR, 10 * DAY)
        };
        let note = rng.pick(&["已完成", "已按要求报送", "已组织落实"]).to_string();
        acts.push((done, who, TaskNoticeAction::Completed { recipient: r.clone(), note }));
    }
    acts.retain(|(at, ..)| *at <= now);
    acts.sort_by_key(|(at, ..)| *at);
    for (at, _, action) in &acts {
        match action {
            TaskNoticeAction::Acknowledged { .. } => counts.acknowledged += 1,
            _ => {
                counts.completed += 1;
                counts.completed_late += usize::from(*at > deadline);
            }
        }
    }
    let issue = TaskNoticeAction::Issued { region_id: region.clone(), title, body, deadline, recipients };
    let mut log: Vec<(i64, Who, TaskNoticeAction)> = vec![(issued, issuer, issue)];
    log.extend(acts);
    let delays: Vec<i64> = log.iter().map(|(_, who, _)| if who.desk { 0 } else { phone_delay(&mut rng) }).collect();
    let stamps: Vec<(i64, &str, i64)> =
        log.iter().zip(&delays).map(|((at, who, _), d)| (*at, who.device.as_str(), *d)).collect();
    let got = receipts(&stamps, now);
    let mut events: Vec<(Event<TaskNoticeAction>, i64)> = Vec::with_capacity(log.len());
    for ((at, who, action), receipt) in log.into_iter().zip(got) {
        let ev = who.event(event_id(at, &mut rng), at, events.last().map(|(p, _)| &p.id), action);
        events.push((ev, receipt));
    }
    let id = format!("notice-{n:04}");
    counts.documents += 1;
    counts.changes += events.len();
    let write = doc_write(&plan.dir, DocKind::TaskNotice, &id, &[("region_id", region.as_str())], &events);
    (id, write)
}

// ---- checking what was written ----

/// Replays a stored document through the relay's own validation (`sync::validate`), one change at a
/// time, as its author's device would have pushed it when the relay received it: each change from
/// its author's device and actor, judged against the document as it stood, with the relay's clock
/// at the change's receipt. Returns the number of changes judged, or why the relay would refuse one.
pub fn revalidate(state: &AppState, doc_id: &str) -> Result<usize, String> {
    use zhuqi_server::sync::validate::{Context, Pusher, Verdict, validate};
    let storage = state.storage.as_ref();
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let dir = state.directory.get(storage).map_err(|e| err(&e))?;
    let (stored, later) =
        storage.load_doc_with_changes(doc_id).map_err(|e| err(&e))?.ok_or_else(|| format!("no document {doc_id}"))?;
    let mut doc = Automerge::load(&stored.snapshot).map_err(|e| err(&e))?;
    for (_, bytes) in later {
        doc.apply_changes([automerge::Change::from_bytes(bytes).map_err(|e| err(&e))?]).map_err(|e| err(&e))?;
    }
    let changes: Vec<automerge::Change> = doc.get_changes(&[]);
    #[derive(serde::Deserialize)]
    struct Stamp {
        id: String,
        by: String,
        device: String,
    }
    let stamps: Vec<Stamp> =
        raw_events_of(&doc).iter().map(|s| serde_json::from_str(s)).collect::<Result<_, _>>().map_err(|e| err(&e))?;
    if stamps.len() != changes.len() {
        return Err(format!("{} events in {} changes: one event a change expected", stamps.len(), changes.len()));
    }
    let ids: Vec<String> = stamps.iter().map(|s| s.id.clone()).collect();
    let received: HashMap<String, i64> = storage
        .receipts(&[doc_id.to_owned()], &ids)
        .map_err(|e| err(&e))?
        .into_iter()
        .map(|(_, e, at)| (e, at))
        .collect();
    let enterprise_of = |id: &str| -> Option<EnterpriseState> {
        let (stored, _) = storage.load_doc_with_changes(id).ok()??;
        let doc = Document::load(&stored.snapshot).ok()?;
        Some(fold::<EnterpriseState>(doc.events()).0)
    };
    let enterprise_id = zhuqi_core::document::header_of(&doc, "enterprise_id");
    let enterprise = enterprise_id.as_deref().and_then(enterprise_of);
    let lookup = |id: &str| -> Option<EnterpriseState> {
        if Some(id) == enterprise_id.as_deref() { enterprise.clone() } else { enterprise_of(id) }
    };
    let problem = |_: &str| -> Option<ProblemState> { None };
    let receipts_of = |_: &str, events: &[String]| -> Vec<(String, i64)> {
        events.iter().filter_map(|e| received.get(e).map(|r| (e.clone(), *r))).collect()
    };
    let mut base: Option<(DocKind, Automerge)> = None;
    for (change, stamp) in changes.iter().zip(&stamps) {
        let user = dir.users.get(&stamp.by).ok_or_else(|| format!("no user {}", stamp.by))?;
        let actors: HashSet<Vec<u8>> = [change.actor_id().to_bytes().to_vec()].into();
        let pusher = Pusher {
            user,
            device_id: &stamp.device,
            actors: &actors,
            actor: zhuqi_core::rules::Actor {
                user_id: user.id.clone(),
                role: user.role,
                region_path: user.region_id.as_deref().and_then(|r| dir.region_path(r)),
                department_id: user.department_id.clone(),
                enterprise_id: user.enterprise_id.clone(),
            },
        };
        let now = *received.get(&stamp.id).ok_or_else(|| format!("event {} has no receipt", stamp.id))?;
        let ctx = Context { dir: &*dir, enterprise: &lookup, problem: &problem, receipts: &receipts_of, now };
        let push = zhuqi_core::sync::protocol::DocChanges {
            doc: doc_id.to_owned(),
            kind: stored.kind,
            changes: vec![change.raw_bytes().to_vec()],
        };
        match validate(&pusher, &ctx, base.take(), &push) {
            Verdict::Accept(_, doc, _) => base = Some((stored.kind, doc)),
            Verdict::Reject(code, message, _) => {
                return Err(format!("event {} by {} refused ({code:?}): {message}", stamp.id, stamp.by));
            }
            Verdict::AlreadyStored(_) | Verdict::Deferred(_) => {
                return Err(format!("event {} was not judged", stamp.id));
            }
        }
    }
    Ok(changes.len())
}

/// Whether a problem in `state` is open and overdue at `now` (the one overdue rule).
pub fn overdue(state: &ProblemState, now: i64) -> bool {
    is_overdue(state.status, state.reported_at, state.deadline, now)
}
